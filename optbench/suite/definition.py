"""A suite's definition: a named, versioned, fixed set of workloads, read from data (``suites/<name>.json``).

A *workload* is one task configuration with everything that makes results comparable across people:
its batch size, its budget (steps or epochs), its evaluation cadence, and its target. The target is the
task's own declaration (:meth:`optbench.tasks.base.Task.target`), made for the task's default budget; a
workload with another budget, or a task that declares none, may take one from the suite (AlgoPerf sets
targets per workload and budget). Its metric must be one the task declares (its direction comes from that
declaration, never from the name). The tuning protocol (search budget, sampler, selection, seeds: the fields
of :class:`optbench.tune.Protocol`, checked by :func:`optbench.suite.run.suite_protocol` before any training)
and the score's τ range are part of the suite too, so a version number pins all of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from optbench.errors import SpecError
from optbench.registry import Registry
from optbench.spec import parse_list

SUITES_PACKAGE = "optbench.suite"
DEFAULT_SUITE = "lecture-v1"


@dataclass(frozen=True)
class ResolvedTarget:
    """A workload's target with the direction its metric declares, and where it was declared."""

    metric: str
    value: float
    direction: str
    description: str
    source: str  # "task" or "suite"


@dataclass(frozen=True)
class Workload:
    """One task configuration with its batch size, budget, evaluation cadence and (optional) suite target."""

    id: str
    task: str
    what: str
    batch_size: int | str = "full"
    steps: int | None = None
    epochs: float | None = None
    eval_every: int | None = None
    target: dict[str, Any] | None = None  # only for tasks that declare none: {"metric", "value", "why"}

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise SpecError(f"workload {self.id!r}: give exactly one of steps or epochs")
        if len(parse_list(self.task)) != 1:
            raise SpecError(f"workload {self.id!r}: task must be one task configuration, got {self.task!r}")

    @property
    def task_spec(self) -> Any:
        return parse_list(self.task)[0]

    def resolve_target(self, registry: Registry) -> ResolvedTarget:
        """The task's declared target (or, for a task declaring none, the suite's), with its direction."""
        from optbench.plan import TaskCache

        spec = self.task_spec
        task = TaskCache(registry).get(registry.get("task", spec.name).name, dict(spec.params))
        declared, own = task.declared_metrics(), task.target()
        own_budget = (task.default_budget.steps, task.default_budget.epochs) == (self.steps, self.epochs)
        if own is not None and self.target is not None and own_budget and (own.metric, float(own.value)) != (
                self.target["metric"], float(self.target["value"])):
            raise SpecError(f"workload {self.id!r}: task {self.task!r} declares its own target ({own.metric} "
                            f"{own.value:g}) for this budget; the suite's ({self.target['metric']} "
                            f"{self.target['value']:g}) must not override it")
        if own is not None and (self.target is None or own_budget):
            metric, value, words, source = own.metric, float(own.value), own.description, "task"
        elif self.target is not None:
            metric, value, source = str(self.target["metric"]), float(self.target["value"]), "suite"
            words = str(self.target.get("why", f"{metric} reaching {value:g}"))
        else:
            raise SpecError(f"workload {self.id!r}: task {self.task!r} declares no target and the suite gives none")
        if metric not in declared:
            raise SpecError(f"workload {self.id!r}: target metric {metric!r} is not declared by the task "
                            f"(declared: {', '.join(declared)})")
        return ResolvedTarget(metric, value, declared[metric].direction, words, source)


@dataclass(frozen=True)
class Suite:
    """A named, versioned workload set with its tuning protocol and score settings."""

    name: str
    version: int
    description: str
    protocol: dict[str, Any]
    tau_max: float
    workloads: tuple[Workload, ...] = field(default_factory=tuple)

    def workload(self, workload_id: str) -> Workload:
        for workload in self.workloads:
            if workload.id == workload_id:
                return workload
        raise SpecError(f"suite {self.name!r} has no workload {workload_id!r} "
                        f"(known: {', '.join(w.id for w in self.workloads)})")

    def select(self, patterns: str | None) -> Suite:
        """The suite restricted to workloads whose id matches one of the comma-separated glob patterns."""
        if not patterns:
            return self
        from fnmatch import fnmatchcase

        wanted = [p.strip() for p in patterns.split(",") if p.strip()]
        kept = tuple(w for w in self.workloads if any(fnmatchcase(w.id, p) for p in wanted))
        if not kept:
            raise SpecError(f"--workloads {patterns!r} matches none of {', '.join(w.id for w in self.workloads)}")
        return Suite(self.name, self.version, self.description, self.protocol, self.tau_max, kept)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "description": self.description,
                "protocol": self.protocol, "tau_max": self.tau_max,
                "workloads": [{k: v for k, v in w.__dict__.items() if v is not None} for w in self.workloads]}


def suite_from_json(document: dict[str, Any], where: str) -> Suite:
    """Build and check a suite from its JSON document (``where`` names it in errors)."""
    try:
        workloads = tuple(Workload(**w) for w in document["workloads"])
        suite = Suite(str(document["name"]), int(document["version"]), str(document.get("description", "")),
                      dict(document["protocol"]), float(document.get("tau_max", 4.0)), workloads)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"suite definition {where}: {exc}") from None
    ids = [w.id for w in workloads]
    if len(set(ids)) != len(ids) or not ids:
        raise SpecError(f"suite definition {where}: workload ids must be unique and at least one")
    if suite.tau_max <= 1:
        raise SpecError(f"suite definition {where}: tau_max must be > 1, got {suite.tau_max}")
    return suite


def known_suites() -> list[str]:
    folder = resources.files(SUITES_PACKAGE) / "suites"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_suite(name: str = DEFAULT_SUITE) -> Suite:
    """A shipped suite by name (``lecture-v1``), or a suite definition file (a path ending in ``.json``)."""
    if name.endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise SpecError(f"suite file {name} does not exist")
        return suite_from_json(_read_json(path.read_text(), name), name)
    if name not in known_suites():
        raise SpecError(f"unknown suite {name!r} (known: {', '.join(known_suites())}; or a path to a .json)")
    text = (resources.files(SUITES_PACKAGE) / "suites" / f"{name}.json").read_text()
    return suite_from_json(_read_json(text, name), name)


def _read_json(text: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"suite definition {where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SpecError(f"suite definition {where} must be a JSON object")
    return document

"""What one task configuration declares, as one value: its metrics, traces, headline, target and surface.

The vocabulary first: a :class:`Metric` (a result, with its direction, evaluation set and resolution), a
:class:`Trace` (recorded and drawn, never ranked) and a :class:`Target` (AlgoPerf's fixed goal). Tasks
use them through :mod:`optbench.tasks.base`; this module needs neither torch nor pandas.

A :class:`Declaration` is produced once from the task (:func:`declare`), written once by the store
(``tasks/<task_key>.json``, shipped with the suite's baselines too) and read back by every view through
:meth:`Declaration.from_json`. The judge (:mod:`optbench.judge`) decides every verdict from it, so nothing
else needs to know, or guess from a name, which way a metric is better, which evaluation set it scores,
or whether a recorded value is a result at all.

Besides the task's own metrics and traces, every trial records what the runner and the diagnostics add;
their declarations live here (:data:`RUNNER_METRICS`, :data:`RUNNER_TRACES`, :data:`DIAGNOSIS_TRACES`),
so they are part of every declaration. ``tests/test_declaration.py`` checks that the curvature code records
no name that is not declared here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Metric:
    """A metric a task reports, and what it means: the task owns its metrics' meaning, nothing guesses it.

    ``direction`` says whether lower (``"min"``) or higher (``"max"``) is better; ``label`` and ``unit`` are
    what a reader sees (e.g. "validation accuracy", ""). ``kind`` says when it is recorded: ``"step"``
    (every training step, from ``step_metrics``) or ``"eval"`` (at evaluations, from ``evaluate``).
    ``resolution``: for a metric that is minimised towards 0, the size below which values are numerically
    indistinguishable (a suboptimality of 1e-35 is no better than 1e-31 in float64); verdicts treat every
    value below it as equal to it.
    ``evaluated_on``: the data it is computed on, in words (e.g. "all validation frames"), part of what the
    metric *is*: a score on a subset is another metric with its own name, so it can never meet a target
    declared on the full set. ``examples``: the size of that evaluation set when the metric is a proportion
    of examples (an accuracy); verdicts then state its binomial sampling error.
    """

    name: str
    direction: Direction
    label: str
    unit: str = ""
    kind: Literal["step", "eval"] = "eval"
    resolution: float = 0.0
    evaluated_on: str = ""
    examples: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"metric name must be a non-empty string without spaces, got {self.name!r}")
        if self.direction not in ("min", "max"):
            raise ValueError(f"metric {self.name!r}: direction must be 'min' or 'max', got {self.direction!r}")
        if self.kind not in ("step", "eval"):
            raise ValueError(f"metric {self.name!r}: kind must be 'step' or 'eval', got {self.kind!r}")

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "max" else a < b


@dataclass(frozen=True)
class Trace:
    """A value a task records that is not a result: drawn, exported, never ranked (e.g. the 2-D position
    ``x``/``y``, the learning rate). Declaring it keeps verdicts from treating it as a metric."""

    name: str
    label: str
    unit: str = ""
    kind: Literal["step", "eval", "diagnosis"] = "step"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"trace name must be a non-empty string without spaces, got {self.name!r}")


@dataclass(frozen=True)
class Target:
    """A fixed goal for one task configuration (AlgoPerf's sense): ``metric`` reaching ``value``.

    Reached when the metric is ``<= value`` (direction min) or ``>= value`` (direction max), with the
    direction taken from the metric's declaration. ``description`` says it in words, e.g.
    "‖θ−θ*‖/‖θ₀−θ*‖ ≤ 1e-3".
    """

    metric: str
    value: float
    description: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"target for {self.metric!r}: value must be a finite number, got {self.value!r}")


TRAIN_LOSS = Metric("train_loss", "min", "training loss (minibatch)", kind="step")


#: the version of the JSON form; files without it were written before traces and evaluation sets existed
FORMAT = 2

RUNNER_METRICS = (
    TRAIN_LOSS,
    Metric("subset_train_loss", "min", "training loss (fixed subset)",
           evaluated_on="a fixed subset of the training set in evaluation mode, at the end"),
)
RUNNER_TRACES = (
    Trace("lr", "learning rate"),
    Trace("grad_norm", "gradient norm (minibatch)"),
    Trace("epoch_train_loss", "mean minibatch loss of the epoch", kind="eval"),
)
DIAGNOSIS_TRACES = tuple(Trace(name, label, kind="diagnosis") for name, label in (
    ("hess_lambda_max", "Hessian λ_max"), ("hess_lambda_min", "Hessian λ_min"), ("hess_trace", "Hessian trace"),
    ("hess_trace_stderr", "standard error of the Hessian trace"),
    ("hess_negative_fraction", "fraction of negative Hessian eigenvalues"),
    ("diag_loss", "loss at the diagnosed point"), ("diag_grad_norm", "gradient norm at the diagnosed point"),
    ("eps_sharpness", "ε-sharpness (Keskar et al.)"), ("noise_grad_sq", "|G|² estimate (noise scale)"),
    ("noise_trace_cov", "tr(Σ) estimate (noise scale)"), ("grad_noise_scale", "gradient noise scale B_simple"),
))


def _metric_from_json(entry: dict[str, Any]) -> Metric:
    fields = {k: entry[k] for k in ("name", "direction", "label", "unit", "kind", "resolution", "evaluated_on",
                                     "examples") if entry.get(k) is not None}
    fields.setdefault("label", entry["name"])
    fields["resolution"] = float(fields.get("resolution", 0.0))
    return Metric(**fields)


def _trace_from_json(entry: dict[str, Any]) -> Trace:
    return Trace(entry["name"], entry.get("label") or entry["name"], entry.get("unit") or "",
                 entry.get("kind") or "step")


@dataclass(frozen=True)
class Declaration:
    """Everything a task configuration declares about what its trials record and what counts as success."""

    task: str
    task_label: str
    metrics: dict[str, Metric]
    traces: dict[str, Trace]
    headline: str
    target: Target | None
    task_params: dict[str, Any] = field(default_factory=dict)
    data_source: str | None = None
    n_train: int | None = None
    divergence_factor: float = 10.0
    #: 2-D surfaces: {"box", "x", "y", "z"} contour grid, and the known critical points
    surface: dict[str, Any] | None = None
    critical_points: tuple[dict[str, Any], ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    #: what a store written by an earlier optbench did not declare (shown to the reader)
    notes: tuple[str, ...] = ()

    def metric(self, name: str) -> Metric | None:
        return self.metrics.get(name)

    @property
    def headline_metric(self) -> Metric:
        return self.metrics.get(self.headline) or TRAIN_LOSS

    @property
    def target_metric(self) -> Metric | None:
        return None if self.target is None else self.metrics.get(self.target.metric)

    def with_target(self, target: Target | None) -> Declaration:
        """The same declaration with another target (a suite workload's, for its own budget)."""
        return replace(self, target=target)

    def to_json(self) -> dict[str, Any]:
        target = None if self.target is None else {**asdict(self.target),
                                                   "direction": self.metrics[self.target.metric].direction}
        return {"format": FORMAT, "task": self.task, "task_label": self.task_label, "task_params": self.task_params,
                "data_source": self.data_source, "n_train": self.n_train,
                "metrics": [asdict(m) for m in self.metrics.values()],
                "traces": [asdict(t) for t in self.traces.values()], "headline": self.headline, "target": target,
                "divergence_factor": self.divergence_factor, "surface": self.surface,
                "critical_points": list(self.critical_points), "facts": self.facts}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Declaration:
        """Read a stored declaration, including the first format (no traces, no evaluation sets)."""
        metrics = {m["name"]: _metric_from_json(m) for m in doc.get("metrics") or []}
        traces = {t["name"]: _trace_from_json(t) for t in doc.get("traces") or []}
        notes: list[str] = []
        if int(doc.get("format") or 1) < FORMAT:
            notes.append("written by an earlier optbench: the evaluation set of each metric is not declared "
                         "(intermediate validation points may score a subset)")
            if doc.get("surface"):  # that format declared a 2-D surface's position as metrics x and y
                traces.update({n: Trace(n, n) for n in ("x", "y") if metrics.pop(n, None) is not None})
        for declared in RUNNER_METRICS:
            metrics.setdefault(declared.name, declared)
        for trace in (*RUNNER_TRACES, *DIAGNOSIS_TRACES):
            traces.setdefault(trace.name, trace)
        target = doc.get("target")
        return cls(task=doc.get("task") or "", task_label=doc.get("task_label") or doc.get("task") or "",
                   metrics=metrics, traces=traces, headline=doc.get("headline") or TRAIN_LOSS.name,
                   target=_target_from_json(target, metrics), task_params=dict(doc.get("task_params") or {}),
                   data_source=doc.get("data_source"), n_train=doc.get("n_train"),
                   divergence_factor=float(doc.get("divergence_factor") or 10.0), surface=doc.get("surface"),
                   critical_points=tuple(doc.get("critical_points") or ()), facts=dict(doc.get("facts") or {}),
                   notes=tuple(notes))


def _target_from_json(target: dict[str, Any] | None, metrics: dict[str, Metric]) -> Target | None:
    if not target or target.get("value") is None or not math.isfinite(float(target["value"])):
        return None
    if target["metric"] not in metrics:
        return None
    return Target(target["metric"], float(target["value"]), target.get("description") or "")


def declare(task: Any, *, name: str, label: str, params: dict[str, Any], data_source: str | None,
            surface: dict[str, Any] | None = None) -> Declaration:
    """The declaration of a constructed task (``surface``: its contour grid, computed by the caller)."""
    metrics = {m.name: m for m in (*RUNNER_METRICS, *task.metrics)}
    traces = {t.name: t for t in (*RUNNER_TRACES, *DIAGNOSIS_TRACES, *task.traces)}
    critical = tuple(asdict(cp) for cp in task.critical_points()) if task.is_2d else ()
    return Declaration(task=name, task_label=label, metrics=metrics, traces=traces,
                       headline=task.headline, target=task.target(), task_params=dict(params),
                       data_source=data_source, n_train=task.n_train,
                       divergence_factor=task.divergence_factor, surface=surface, critical_points=critical)


def fallback_declaration(row: dict[str, Any]) -> Declaration:
    """What a trial row says of its task when the store has no ``tasks/<key>.json`` (written before those
    existed): the headline and target columns if present, else the training loss; the gap is noted."""
    headline, direction = row.get("headline_metric"), row.get("headline_direction")
    metrics = {m.name: m for m in RUNNER_METRICS}
    notes = ["this store declares no metrics (written before tasks declared them)"]
    if isinstance(headline, str) and direction in ("min", "max"):
        metrics.setdefault(headline, Metric(headline, direction, headline))
    else:
        headline = TRAIN_LOSS.name
        notes.append("ranked by the training loss, lower is better")
    target = None
    value, metric = row.get("target_value"), row.get("target_metric")
    if isinstance(metric, str) and metric in metrics and value is not None and math.isfinite(float(value)):
        target = Target(metric, float(value), str(row.get("target_description") or ""))
    return Declaration(task=str(row.get("task") or ""), task_label=str(row.get("task_label") or ""),
                       metrics=metrics, traces={t.name: t for t in (*RUNNER_TRACES, *DIAGNOSIS_TRACES)},
                       headline=headline, target=target, notes=tuple(notes))

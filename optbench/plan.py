"""Planning a study: one :class:`StudySpec`, validated before any training, expanded into trials.

Everything a user can get wrong is checked here, so a typo or an impossible value costs nothing:
names (with the closest suggestion), hyperparameter keys, values (finite numbers; each optimizer and
schedule is constructed once on a dummy parameter, so a wrong tuple arity fails now, not mid-study),
budgets (finite and positive), seeds (non-negative and storable), batch sizes (not above the data), and
the task's memory estimate (tasks refuse sizes the machine cannot hold, before allocating).

Each trial's configuration carries the fully resolved hyperparameters (signature defaults included) and
the identity of the code behind its entries (see :mod:`optbench.trial`).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from optbench.errors import OptbenchError, SpecError, did_you_mean
from optbench.registry import Entry, Registry
from optbench.spec import (
    Spec,
    canonical_json,
    check_steps,
    check_trial_count,
    count_specs,
    parse_batch_sizes,
    parse_list,
    parse_seeds,
)
from optbench.tasks.base import Budget, Task
from optbench.trial import TrialConfig

MAX_SEED = 2**63 - 1  # what the store's int64 column holds


@dataclass(frozen=True)
class StudySpec:
    """What a study runs: the one home of the study's settings and their defaults (CLI and API alike)."""

    tasks: str | Iterable[str | Spec]
    optims: str | Iterable[str | Spec]
    schedules: str | Iterable[str | Spec] = "constant"
    batch_sizes: str | Iterable[int | str] | None = None  # None: each task's own
    seeds: str | Iterable[int] = "0-2"  # three seeds: a verdict needs a noise estimate
    steps: int | None = None
    epochs: float | None = None
    seconds: float | None = None
    eval_every: int | None = None  # None: the task's eval_points, else once per epoch
    data_dir: str | Path | None = None  # given to every task that takes a data_dir parameter
    out: str | Path | None = None
    results_dir: str | Path = "results"
    device: str = "auto"
    threads: int | str = "auto"
    plugins: Iterable[str | Path] = ()
    save_checkpoints: bool = True
    diagnose: str | None = None
    noise_scale: str | None = None
    force: bool = False  # rerun trials that are already in the store
    insist: bool = False  # run a step budget above spec.MAX_STEPS anyway


def _accepted(factory: Callable[..., Any], skip: int) -> list[inspect.Parameter] | None:
    """The keyword parameters a factory accepts (None if it takes **kwargs), skipping ``skip`` positionals."""
    try:
        params = list(inspect.signature(factory).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _check_keys(entry: Entry, params: dict[str, Any], skip: int) -> None:
    accepted = _accepted(entry.factory, skip)
    if accepted is None:
        return
    names = [p.name for p in accepted]
    for key in params:
        if key not in names:
            raise SpecError(f"{entry.kind} {entry.name!r} has no hyperparameter {key!r}{did_you_mean(key, names)} "
                            f"(accepted: {', '.join(names) or 'none'})")


def _check_finite(kind: str, label: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if isinstance(item, float) and not math.isfinite(item):
                raise SpecError(f"{kind} {label!r}: {key} must be a finite number, got {item}")


def _user_error(entry: Entry, spec: Spec, exc: Exception) -> SpecError:
    return SpecError(f"{entry.kind} {spec.label!r}: {exc}")


def validate_optimizer(entry: Entry, spec: Spec) -> None:
    """Construct the optimizer once on a dummy parameter: bad values fail here, not mid-study."""
    _check_keys(entry, dict(spec.params), skip=1)
    _check_finite("optimizer", spec.label, dict(spec.params))
    lr = spec.params.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
        raise SpecError(f"optimizer {spec.label!r}: lr must be a number, got {lr!r}")
    if lr is not None and lr <= 0:
        raise SpecError(f"optimizer {spec.label!r}: lr must be > 0, got {lr}")
    try:
        opt = entry.create([torch.nn.Parameter(torch.ones(2))], **spec.params)
    except SpecError as exc:
        raise _user_error(entry, spec, exc) from None
    except (ValueError, TypeError) as exc:
        raise _user_error(entry, spec, exc) from None
    if not isinstance(opt, torch.optim.Optimizer):
        raise OptbenchError(f"optimizer {entry.name!r} ({entry.source}): factory returned "
                            f"{type(opt).__name__}, not a torch.optim.Optimizer")
    try:
        _probe_step(opt)  # a wrong tuple arity (betas=0.9/0.98/0.7) only fails in a step, so take one
    except (ValueError, TypeError) as exc:
        raise _user_error(entry, spec, exc) from None
    except Exception:  # noqa: BLE001 - a crashing step is the trial's to record as failed, not a user error
        pass


def _probe_step(opt: torch.optim.Optimizer) -> None:
    params = [p for group in opt.param_groups for p in group["params"]]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        with torch.enable_grad():
            loss = sum((p**2).sum() for p in params)
            loss.backward()
        return loss

    try:
        takes_closure = "closure" in inspect.signature(opt.step).parameters
    except (TypeError, ValueError):
        takes_closure = False
    if takes_closure:
        opt.step(closure)
    else:
        closure()
        opt.step()


def validate_schedule(entry: Entry, spec: Spec) -> None:
    _check_keys(entry, dict(spec.params), skip=1)
    _check_finite("schedule", spec.label, dict(spec.params))
    try:
        value = entry.create(100, **spec.params)(0)
    except (SpecError, ValueError, TypeError, ZeroDivisionError) as exc:
        raise _user_error(entry, spec, exc) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise OptbenchError(f"schedule {spec.label!r}: multiplier at step 0 is {value!r}, "
                            "expected a finite number >= 0")


class TaskCache:
    """Tasks built once per (name, parameters, device) and shared by every trial that uses them."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._tasks: dict[tuple[str, str, str], Task] = {}

    def get(self, name: str, params: dict[str, Any], device: str = "cpu") -> Task:
        key = (name, canonical_json(params), device)
        if key not in self._tasks:
            entry = self.registry.get("task", name)
            _check_keys(entry, params, skip=0)
            _check_finite("task", name, params)
            try:
                built = entry.create(**params)
            except OptbenchError:
                raise
            except (ValueError, TypeError) as exc:
                raise SpecError(f"task {name!r}: {exc}") from None
            if not isinstance(built, Task):
                raise OptbenchError(f"task {name!r} ({entry.source}): factory returned "
                                    f"{type(built).__name__}, not an optbench Task")
            self._tasks[key] = built.to(torch.device(device))
        return self._tasks[key]


def as_specs(value: str | Spec | Iterable[str | Spec]) -> list[Spec]:
    if isinstance(value, Spec):
        return [value]
    if isinstance(value, str):
        return parse_list(value)
    specs: list[Spec] = []
    for item in value:
        specs.extend([item] if isinstance(item, Spec) else parse_list(item))
    return specs


def _resolve(registry: Registry, kind: str, spec: Spec) -> tuple[Entry, Spec]:
    entry = registry.get(kind, spec.name)  # type: ignore[arg-type]
    return entry, Spec(entry.name, dict(spec.params))


def check_budget(steps: Any, epochs: Any, seconds: Any) -> None:
    """Budgets are finite positive numbers (steps a whole number)."""
    for name, value in (("steps", steps), ("epochs", epochs), ("time", seconds)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise SpecError(f"budget {name} must be a finite number > 0, got {value}")
    if steps is not None and int(steps) != steps:
        raise SpecError(f"budget steps must be a whole number, got {steps}")


def check_seeds(seeds: list[int]) -> list[int]:
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise SpecError(f"seeds must be integers in 0..{MAX_SEED}, got {seed!r}")
    return list(dict.fromkeys(seeds))


def total_steps(budget: Budget, steps_per_epoch: int) -> int:
    """Steps a budget allows (a time-only budget has no step limit: a large sentinel)."""
    total = min(budget.steps or math.inf,
                math.ceil(budget.epochs * steps_per_epoch) if budget.epochs else math.inf)
    return int(total) if math.isfinite(total) else 10**12


def _eval_every(spec: StudySpec, task: Task, budget: Budget, batch: int) -> int | None:
    if spec.eval_every is not None or task.eval_points is None:
        return spec.eval_every
    total = total_steps(budget, math.ceil(task.n_train / batch))
    return max(1, math.ceil(total / task.eval_points)) if total < 10**12 else None


def _task_params(entry: Entry, spec: Spec, data_dir: str | Path | None) -> dict[str, Any]:
    params = dict(spec.params)
    names = [p.name for p in _accepted(entry.factory, 0) or []]
    if data_dir is not None and "data_dir" in names and params.get("data_dir") is None:
        params["data_dir"] = str(Path(data_dir).resolve())
    return entry.resolved(params)


def _validated(spec: StudySpec, registry: Registry) -> tuple[list, list, list, list[int]]:
    if spec.eval_every is not None and (not isinstance(spec.eval_every, int) or spec.eval_every < 1):
        raise SpecError(f"eval_every must be a whole number >= 1, got {spec.eval_every}")
    check_budget(spec.steps, spec.epochs, spec.seconds)
    seeds = check_seeds(parse_seeds(spec.seeds))
    sizes = len(parse_batch_sizes(spec.batch_sizes)) if spec.batch_sizes is not None else 1
    check_trial_count({"tasks": count_specs(spec.tasks), "optimizer configurations": count_specs(spec.optims),
                       "schedules": count_specs(spec.schedules), "batch sizes": sizes, "seeds": len(seeds)})
    optims = [_resolve(registry, "optimizer", s) for s in as_specs(spec.optims)]
    schedules = [_resolve(registry, "schedule", s) for s in as_specs(spec.schedules)]
    tasks = [_resolve(registry, "task", s) for s in as_specs(spec.tasks)]
    for entry, s in optims:
        validate_optimizer(entry, s)
    for entry, s in schedules:
        validate_schedule(entry, s)
    if spec.seconds is not None and spec.steps is None and spec.epochs is None:
        for entry, s in schedules:
            if entry.name != "constant":
                raise SpecError(f"schedule {s.label!r} needs the run's length: give steps or epochs "
                                "with a time budget")
    return tasks, optims, schedules, seeds


def plan(spec: StudySpec, registry: Registry | None = None, task_cache: TaskCache | None = None) -> list[TrialConfig]:
    """Validate a study and expand it into trial configurations (no training happens)."""
    if registry is None:
        from optbench.registry import load_registry

        registry = load_registry(plugins=spec.plugins)
    task_cache = task_cache or TaskCache(registry)
    tasks, optims, schedules, seeds = _validated(spec, registry)
    configs: list[TrialConfig] = []
    for t_entry, t_spec in tasks:
        t_params = _task_params(t_entry, t_spec, spec.data_dir)
        task = task_cache.get(t_entry.name, t_params)
        budget = Budget(spec.steps, spec.epochs, spec.seconds)
        budget = task.default_budget if budget.is_empty() else budget
        sizes = parse_batch_sizes(spec.batch_sizes) if spec.batch_sizes is not None else [task.default_batch_size]
        for size in sizes:
            if isinstance(size, int) and size > task.n_train:
                raise SpecError(f"batch size {size} exceeds task {t_spec.label!r}'s "
                                f"{task.n_train} training examples (use 'full')")
        if budget.seconds is None:  # a time budget bounds any step count
            smallest = min(task.n_train if s == "full" else int(s) for s in sizes)
            check_steps(total_steps(budget, math.ceil(task.n_train / smallest)), f"task {t_spec.label!r}", spec.insist)
        for (o_entry, o_spec), (s_entry, s_spec), size, seed in _product(optims, schedules, sizes, seeds):
            batch = task.n_train if size == "full" else int(size)
            configs.append(TrialConfig(
                task=t_entry.name, task_params=t_params, task_label=t_spec.label,
                optimizer=o_entry.name, optimizer_params=o_entry.resolved(o_spec.params),
                optimizer_label=o_spec.label,
                schedule=s_entry.name, schedule_params=s_entry.resolved(s_spec.params),
                schedule_label=s_spec.label, batch_size=size, seed=seed, budget=budget,
                eval_every=_eval_every(spec, task, budget, batch), data_source=task.data_source,
                code={"optimizer": o_entry.code_version, "schedule": s_entry.code_version,
                      "task": t_entry.code_version},
            ))
    unique = {c.trial_id: c for c in configs}  # aliases or repeated specs collapse to one trial
    return list(unique.values())


#: the StudySpec fields that decide which trials a study has (the rest say how and where they run)
PLAN_FIELDS = ("tasks", "optims", "schedules", "batch_sizes", "seeds", "steps", "epochs", "seconds", "eval_every",
               "data_dir", "plugins")


def _source_stamp() -> list[tuple[str, int, int]]:
    """Size and mtime of every optbench source file: planning code, task classes and entry defaults."""
    root = Path(__file__).resolve().parent
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*.py"))


def plan_key(spec: StudySpec, registry: Registry) -> str | None:
    """A digest of everything :func:`plan` turns into trial ids without building a task (None when the spec
    does not resolve: planning then says why, with the spec's label).

    The spec's planning fields, every registry entry's resolved parameters for the names used and its code
    version, the working folder (relative data paths), the ``OPTBENCH_*`` variables and ``HOME`` (where data
    and the built-in corpus are found), and optbench's own source files. Two calls with equal keys plan the
    same trials, so a study whose trials are all stored can be answered from the store (see
    :func:`optbench.study.prepare`). What it cannot see is the *content* of a data folder, which trial ids
    never hashed either: they name data by its path (``data_source``).
    """
    entries = []
    try:
        for kind, value in (("task", spec.tasks), ("optimizer", spec.optims), ("schedule", spec.schedules)):
            for item in as_specs(value):
                entry = registry.get(kind, item.name)  # type: ignore[arg-type]
                entries.append((kind, entry.name, entry.code_version, entry.resolved(item.params)))
    except OptbenchError:
        return None
    payload = {
        "spec": {name: getattr(spec, name) for name in PLAN_FIELDS}, "entries": entries,
        "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items() if k.startswith("OPTBENCH_") or k == "HOME"},
        "source": _source_stamp(),
    }
    return hashlib.sha1(canonical_json(payload).encode()).hexdigest()[:16]


def _product(optims: list, schedules: list, sizes: list, seeds: list[int]) -> Iterable[tuple]:
    for optim in optims:
        for schedule in schedules:
            for size in sizes:
                for seed in seeds:
                    yield optim, schedule, size, seed

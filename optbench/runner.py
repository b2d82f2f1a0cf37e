"""The runner: expand a study into trials, run each one, and stream finished trials into a store.

A *trial* is one cell of tasks × optimizers (× their grids) × schedules × batch sizes × seeds, described
by a :class:`TrialConfig` whose id is a hash of the full resolved configuration. :func:`plan` validates
every name and value up front (so a typo costs nothing) and :func:`run_trial` trains one trial:

- seeding: the model is initialised from the trial seed and the batch order comes from a generator
  seeded with it, so the same config and seed give the same numbers on CPU;
- clock: only the training step (batch assembly, forward, backward, optimizer and schedule) is timed;
  per-step bookkeeping and evaluation are outside the clock (the device is synchronised before the
  clock is read on GPU);
- divergence: a non-finite loss stops the trial as ``diverged`` at that step; an exception marks it
  ``failed`` with the message; neither stops the study.

:func:`run` is the Python API behind ``optbench run``: it skips trials already in the store, so
rerunning a study (or resuming a killed one) only does the missing work.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from optbench.errors import OptbenchError, SpecError
from optbench.registry import Entry, Registry, load_registry
from optbench.spec import Spec, canonical_json, parse_batch_sizes, parse_list, parse_seeds
from optbench.store import Store
from optbench.tasks.base import Budget, Task

STATUSES = ("completed", "diverged", "failed")


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines a trial's numbers (device and threads are recorded, not hashed)."""

    task: str
    task_params: dict[str, Any]
    task_label: str
    optimizer: str
    optimizer_params: dict[str, Any]
    optimizer_label: str
    schedule: str
    schedule_params: dict[str, Any]
    schedule_label: str
    batch_size: int | str
    seed: int
    budget: Budget
    eval_every: int | None = None
    data_source: str | None = None

    @property
    def trial_id(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if not k.endswith("_label")}
        if payload["data_source"] is None:  # keeps the ids of tasks without external data unchanged
            del payload["data_source"]
        return hashlib.sha1(canonical_json(payload).encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return (f"{self.task_label} · {self.optimizer_label} · {self.schedule_label} · "
                f"bs={self.batch_size} · seed={self.seed}")


@dataclass
class TrialResult:
    """What a finished trial hands to the store: its summary row, metrics and best checkpoint."""

    row: dict[str, Any]
    metrics: pd.DataFrame
    checkpoint: dict[str, Any] | None = None
    diagnosis: dict[str, Any] | None = None  # end-of-trial curvature diagnosis (optbench.curvature)


@dataclass
class Options:
    """How trials run (not part of their identity)."""

    device: str = "cpu"
    save_checkpoints: bool = True
    diagnose: Any = None  # optbench.curvature.DiagnoseSettings: end-of-trial diagnosis, outside the clock
    noise_scale: Any = None  # optbench.curvature.NoiseScaleSettings: gradient noise scale every N steps


# ----------------------------------------------------------------------------------------------
# validation and planning
# ----------------------------------------------------------------------------------------------

def _accepted(factory: Callable[..., Any], skip: int) -> tuple[list[str] | None, bool]:
    """Keyword names a factory accepts (None if it takes **kwargs), skipping ``skip`` positionals."""
    try:
        params = list(inspect.signature(factory).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None, True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None, True
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)], False


def _check_keys(entry: Entry, params: dict[str, Any], skip: int) -> None:
    names, _ = _accepted(entry.factory, skip)
    if names is None:
        return
    for key in params:
        if key not in names:
            import difflib

            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpecError(f"{entry.kind} {entry.name!r} has no hyperparameter {key!r}{hint} "
                            f"(accepted: {', '.join(names) or 'none'})")


def _user_error(entry: Entry, spec: Spec, exc: Exception) -> SpecError:
    return SpecError(f"{entry.kind} {spec.label!r}: {exc}")


def validate_optimizer(entry: Entry, spec: Spec) -> None:
    """Construct the optimizer once on a dummy parameter: bad values fail here, not mid-study."""
    _check_keys(entry, dict(spec.params), skip=1)
    if "lr" in spec.params and isinstance(spec.params["lr"], (int, float)) and spec.params["lr"] <= 0:
        raise SpecError(f"optimizer {spec.label!r}: lr must be > 0, got {spec.params['lr']}")
    try:
        opt = entry.create([torch.nn.Parameter(torch.zeros(2))], **spec.params)
    except (ValueError, TypeError) as exc:
        raise _user_error(entry, spec, exc) from None
    if not isinstance(opt, torch.optim.Optimizer):
        raise OptbenchError(f"optimizer {entry.name!r} ({entry.source}): factory returned "
                            f"{type(opt).__name__}, not a torch.optim.Optimizer")


def validate_schedule(entry: Entry, spec: Spec) -> None:
    _check_keys(entry, dict(spec.params), skip=1)
    try:
        value = entry.create(100, **spec.params)(0)
    except SpecError as exc:
        raise _user_error(entry, spec, exc) from None
    except (ValueError, TypeError, ZeroDivisionError) as exc:
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
            try:
                built = entry.factory(**params)
            except OptbenchError:
                raise
            except (ValueError, TypeError) as exc:
                raise SpecError(f"task {name!r}: {exc}") from None
            if not isinstance(built, Task):
                raise OptbenchError(f"task {name!r} ({entry.source}): factory returned "
                                    f"{type(built).__name__}, not an optbench Task")
            self._tasks[key] = built.to(torch.device(device))
        return self._tasks[key]


def _as_specs(value: str | Spec | Iterable[str | Spec]) -> list[Spec]:
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


def _budget(task: Task, steps: int | None, epochs: float | None, seconds: float | None) -> Budget:
    for name, value in (("steps", steps), ("epochs", epochs), ("time", seconds)):
        if value is not None and value <= 0:
            raise SpecError(f"--{name} must be > 0, got {value}")
    budget = Budget(steps, epochs, seconds)
    return task.default_budget if budget.is_empty() else budget


def plan(
    tasks: str | Iterable[str | Spec],
    optims: str | Iterable[str | Spec],
    schedules: str | Iterable[str | Spec] = "constant",
    batch_sizes: str | Iterable[int | str] | None = None,
    seeds: str | Iterable[int] = (0,),
    steps: int | None = None,
    epochs: float | None = None,
    seconds: float | None = None,
    eval_every: int | None = None,
    registry: Registry | None = None,
    task_cache: TaskCache | None = None,
) -> list[TrialConfig]:
    """Validate a study and expand it into trial configurations (no training happens)."""
    registry = registry or load_registry()
    task_cache = task_cache or TaskCache(registry)
    seed_list = parse_seeds(seeds)
    if eval_every is not None and eval_every < 1:
        raise SpecError(f"--eval-every must be >= 1, got {eval_every}")
    optim_specs = [_resolve(registry, "optimizer", s) for s in _as_specs(optims)]
    sched_specs = [_resolve(registry, "schedule", s) for s in _as_specs(schedules)]
    task_specs = [_resolve(registry, "task", s) for s in _as_specs(tasks)]
    for entry, spec in optim_specs:
        validate_optimizer(entry, spec)
    for entry, spec in sched_specs:
        validate_schedule(entry, spec)
    if seconds is not None and steps is None and epochs is None:
        for entry, spec in sched_specs:
            if entry.name != "constant":
                raise SpecError(f"schedule {spec.label!r} needs the run's length: give --steps or "
                                "--epochs with --time")
    configs: list[TrialConfig] = []
    for t_entry, t_spec in task_specs:
        t_params = {**t_entry.defaults, **t_spec.params}
        task = task_cache.get(t_entry.name, t_params)
        budget = _budget(task, steps, epochs, seconds)
        sizes = parse_batch_sizes(batch_sizes) if batch_sizes is not None else [task.default_batch_size]
        for size in sizes:
            if isinstance(size, int) and size > task.n_train:
                raise SpecError(f"batch size {size} exceeds task {t_spec.label!r}'s "
                                f"{task.n_train} training examples (use 'full')")
        for o_entry, o_spec in optim_specs:
            for s_entry, s_spec in sched_specs:
                for size in sizes:
                    for seed in seed_list:
                        configs.append(TrialConfig(
                            task=t_entry.name, task_params=t_params, task_label=t_spec.label,
                            optimizer=o_entry.name, optimizer_params={**o_entry.defaults, **o_spec.params},
                            optimizer_label=o_spec.label,
                            schedule=s_entry.name, schedule_params={**s_entry.defaults, **s_spec.params},
                            schedule_label=s_spec.label,
                            batch_size=size, seed=seed, budget=budget, eval_every=eval_every,
                            data_source=task.data_source,
                        ))
    unique = {c.trial_id: c for c in configs}  # aliases or repeated specs collapse to one trial
    return list(unique.values())


# ----------------------------------------------------------------------------------------------
# one trial
# ----------------------------------------------------------------------------------------------

def resolve_device(device: str) -> str:
    device = device.lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptbenchError("--device cuda asked for, but torch sees no CUDA GPU here")
    if device != "cpu" and not device.startswith("cuda"):
        raise SpecError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def _grad_norm(params: Sequence[torch.Tensor]) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def _higher_is_better(metric: str) -> bool:
    return "acc" in metric


def run_trial(config: TrialConfig, registry: Registry, options: Options | None = None,
              task_cache: TaskCache | None = None) -> TrialResult:
    """Train one trial and summarise it. Never raises for a diverging or crashing trial."""
    options = options or Options()
    task_cache = task_cache or TaskCache(registry)
    device = torch.device(options.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows: list[tuple[int, float, int, float, str, float]] = []
    status, error, diverged_step = "completed", None, None
    step, examples, clock, eval_clock = 0, 0, 0.0, 0.0
    epoch_losses: list[float] = []
    best_eval: dict[str, float] = {}
    best_state: dict[str, Any] | None = None
    summary_extra: dict[str, Any] = {}
    diagnosis: dict[str, Any] | None = None
    steps_per_epoch = 1

    def record(name: str, value: float) -> None:
        rows.append((step, step / steps_per_epoch, examples, clock, name, value))

    try:
        task = task_cache.get(config.task, config.task_params, options.device)
        n = task.n_train
        batch_size = n if config.batch_size == "full" else min(int(config.batch_size), n)
        steps_per_epoch = math.ceil(n / batch_size)
        budget = config.budget
        total = min(budget.steps or math.inf,
                    math.ceil(budget.epochs * steps_per_epoch) if budget.epochs else math.inf)
        total_steps = int(total) if math.isfinite(total) else 10**12
        summary_extra["batch_size_value"] = batch_size

        torch.manual_seed(config.seed)  # for models or tasks that draw from the global generator
        model = task.init_model(config.seed).to(device)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = registry.get("optimizer", config.optimizer).factory(params, **config.optimizer_params)
        base_lrs = [group["lr"] for group in optimizer.param_groups]
        multiplier = registry.get("schedule", config.schedule).factory(total_steps, **config.schedule_params)
        order = torch.Generator().manual_seed(config.seed)

        def evaluate() -> None:
            nonlocal eval_clock, best_state
            started = time.perf_counter()
            model.eval()
            with torch.no_grad():
                results = task.evaluate(model)
            model.train()
            for name, value in results.items():
                value = float(value)
                record(name, value)
                better = max if _higher_is_better(name) else min
                if name not in best_eval or better(value, best_eval[name]) != best_eval[name]:
                    best_eval[name] = value
                    if options.save_checkpoints and name == task.checkpoint_metric:
                        best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            eval_clock += time.perf_counter() - started

        for name, value in task.step_metrics(model).items():
            record(name, value)
        evaluate()
        last_eval = 0
        while step < total_steps and status == "completed":
            if batch_size < n:
                permutation = torch.randperm(n, generator=order).to(device)
            else:
                permutation = torch.arange(n, device=device)
            epoch_sum, epoch_count = 0.0, 0
            for start in range(0, n, batch_size):
                started = time.perf_counter()
                batch = task.train_batch(permutation[start:start + batch_size])
                factor = multiplier(step)
                for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                    group["lr"] = base * factor
                optimizer.zero_grad(set_to_none=True)
                loss = task.loss(model, batch)
                loss.backward()
                optimizer.step()
                sync()
                clock += time.perf_counter() - started
                loss_value = loss.item()
                step += 1
                examples += min(batch_size, n - start)
                record("train_loss", loss_value)
                record("lr", optimizer.param_groups[0]["lr"])
                record("grad_norm", _grad_norm(params))
                for name, value in task.step_metrics(model).items():
                    record(name, value)
                if not math.isfinite(loss_value):
                    status, diverged_step = "diverged", step
                    break
                if options.noise_scale is not None and step % options.noise_scale.every == 0:
                    for name, value in options.noise_scale.measure(task, model, batch_size, config.seed,
                                                                   step).items():
                        record(name, value)
                epoch_sum, epoch_count = epoch_sum + loss_value, epoch_count + 1
                if config.eval_every and step - last_eval >= config.eval_every:
                    evaluate()
                    last_eval = step
                if step >= total_steps or (budget.seconds is not None and clock >= budget.seconds):
                    break
            if epoch_count:
                epoch_losses.append(epoch_sum / epoch_count)
                record("epoch_train_loss", epoch_losses[-1])
            if status != "completed" or (budget.seconds is not None and clock >= budget.seconds):
                break
            if config.eval_every is None and last_eval != step:
                evaluate()  # once per epoch by default
                last_eval = step
        if status == "completed" and last_eval != step:
            evaluate()
        if options.diagnose is not None and status == "completed":
            from optbench.curvature import end_of_trial

            diagnosis = end_of_trial(options.diagnose, task, model, config.seed, record)
    except Exception as exc:  # a crashing optimizer or task must not stop the study
        status = "failed"
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        error = f"{type(exc).__name__}: {exc}{where}"

    metrics = pd.DataFrame(rows, columns=["step", "epoch", "examples", "time", "metric", "value"])
    metrics.insert(0, "trial_id", config.trial_id)
    row = _summary_row(config, options, status, error, diverged_step, step, steps_per_epoch, examples,
                       clock, eval_clock, epoch_losses, metrics, best_eval, summary_extra)
    return TrialResult(row, metrics, best_state, diagnosis)


def _summary_row(config: TrialConfig, options: Options, status: str, error: str | None,
                 diverged_step: int | None, steps: int, steps_per_epoch: int, examples: int, clock: float,
                 eval_clock: float, epoch_losses: list[float], metrics: pd.DataFrame,
                 best_eval: dict[str, float], extra: dict[str, Any]) -> dict[str, Any]:
    finite = [v for v in epoch_losses if math.isfinite(v)]
    last_by_metric = metrics.groupby("metric", sort=False)["value"].last() if len(metrics) else {}
    row: dict[str, Any] = {
        "trial_id": config.trial_id,
        "task": config.task, "task_label": config.task_label,
        "task_params": canonical_json(config.task_params), "data_source": config.data_source,
        "optimizer": config.optimizer, "optimizer_label": config.optimizer_label,
        "optimizer_params": canonical_json(config.optimizer_params),
        "lr": float(config.optimizer_params.get("lr", math.nan)),
        "schedule": config.schedule, "schedule_label": config.schedule_label,
        "schedule_params": canonical_json(config.schedule_params),
        "batch_size": str(config.batch_size),
        "batch_size_value": int(extra.get("batch_size_value", 0)),
        "seed": int(config.seed),
        "budget_steps": config.budget.steps, "budget_epochs": config.budget.epochs,
        "budget_seconds": config.budget.seconds, "eval_every": config.eval_every,
        "status": status, "diverged_step": diverged_step, "error": error,
        "steps": steps, "epochs": steps / steps_per_epoch, "examples": examples,
        "train_time": clock, "eval_time": eval_clock,
        "steps_per_second": steps / clock if clock > 0 else math.nan,
        "final_train_loss": epoch_losses[-1] if epoch_losses else math.nan,
        "best_train_loss": min(finite) if finite else math.nan,
        "device": options.device, "threads": torch.get_num_threads(),
        "finished_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
    }
    for name, value in dict(last_by_metric).items():
        if name not in ("train_loss", "lr", "grad_norm", "epoch_train_loss"):
            row[f"final_{name}"] = float(value)
    for name, value in best_eval.items():
        row[f"best_{name}"] = value
    return row


# ----------------------------------------------------------------------------------------------
# a study
# ----------------------------------------------------------------------------------------------

def default_store_path(configs: Sequence[TrialConfig], results_dir: str | Path = "results") -> Path:
    """``results/<date>-<tasks>-<hash>``; an existing store for the same study is reused."""
    digest = hashlib.sha1("".join(sorted(c.trial_id for c in configs)).encode()).hexdigest()[:8]
    results_dir = Path(results_dir)
    existing = sorted(results_dir.glob(f"*-{digest}")) if results_dir.is_dir() else []
    if existing:
        return existing[-1]
    tasks = "+".join(dict.fromkeys(c.task for c in configs))[:40]
    return results_dir / f"{date.today():%Y%m%d}-{tasks}-{digest}"


def save_checkpoint(store: Store, trial_id: str, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path = store.checkpoint_path(trial_id)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


@dataclass
class Study:
    """A planned study bound to its store: what :func:`run` executes."""

    configs: list[TrialConfig]
    store: Store
    registry: Registry
    options: Options
    run_config: dict[str, Any] = field(default_factory=dict)

    def pending(self) -> list[TrialConfig]:
        done = self.store.finished_ids()
        return [c for c in self.configs if c.trial_id not in done]

    def record(self, result: TrialResult) -> None:
        if result.checkpoint is not None:
            save_checkpoint(self.store, result.row["trial_id"], result.checkpoint)
        if result.diagnosis is not None:  # before the trial row, which marks the trial finished
            from optbench.curvature import write_diagnosis

            write_diagnosis(self.store.path, result.row["trial_id"], result.diagnosis)
        self.store.write_trial(result.row, result.metrics)

    def trials(self) -> pd.DataFrame:
        frame = self.store.read_trials()
        if frame.empty:
            return frame
        ids = {c.trial_id for c in self.configs}
        frame = frame[frame["trial_id"].isin(ids)].reset_index(drop=True)
        frame.attrs["store"] = str(self.store.path)
        return frame


def prepare(
    tasks: str | Iterable[str | Spec],
    optims: str | Iterable[str | Spec],
    schedules: str | Iterable[str | Spec] = "constant",
    batch_sizes: str | Iterable[int | str] | None = None,
    seeds: str | Iterable[int] = (0,),
    steps: int | None = None,
    epochs: float | None = None,
    seconds: float | None = None,
    eval_every: int | None = None,
    out: str | Path | None = None,
    results_dir: str | Path = "results",
    device: str = "auto",
    threads: int | None = None,
    plugins: Iterable[str | Path] = (),
    registry: Registry | None = None,
    save_checkpoints: bool = True,
    diagnose: str | None = None,
    noise_scale: str | None = None,
) -> Study:
    """Validate and plan a study, create its store and record the run in its manifest.

    ``diagnose`` (e.g. ``""`` or ``"examples=2048,density=true"``) adds an end-of-trial curvature diagnosis and
    ``noise_scale`` (e.g. ``"every=50"``) records the gradient noise scale; see :mod:`optbench.curvature`.
    """
    if threads is not None:
        if threads < 1:
            raise SpecError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    registry = registry or load_registry(plugins=plugins)
    options = Options(device=resolve_device(device), save_checkpoints=save_checkpoints)
    if diagnose is not None or noise_scale is not None:  # parsed before any work: a typo costs nothing
        from optbench.curvature import DiagnoseSettings, NoiseScaleSettings

        options.diagnose = DiagnoseSettings.parse(diagnose) if diagnose is not None else None
        options.noise_scale = NoiseScaleSettings.parse(noise_scale) if noise_scale is not None else None
    configs = plan(tasks, optims, schedules, batch_sizes, seeds, steps, epochs, seconds, eval_every, registry)
    store = Store(out if out is not None else default_store_path(configs, results_dir)).create()
    run_config = {
        "tasks": sorted({c.task_label for c in configs}),
        "optimizers": sorted({c.optimizer_label for c in configs}),
        "schedules": sorted({c.schedule_label for c in configs}),
        "batch_sizes": sorted({str(c.batch_size) for c in configs}),
        "seeds": sorted({c.seed for c in configs}),
        "steps": steps, "epochs": epochs, "seconds": seconds, "eval_every": eval_every,
        "device": options.device, "threads": torch.get_num_threads(),
        "plugins": [str(p) for p in registry.plugin_sources], "n_trials": len(configs),
        "diagnose": diagnose, "noise_scale": noise_scale,
    }
    store.update_manifest(run_config)
    return Study(configs, store, registry, options, run_config)


def execute(study: Study, on_trial: Callable[[TrialConfig, TrialResult | None], None] | None = None,
            backend: str = "sequential", workers: int = 1, address: str | None = None) -> None:
    """Run the study's pending trials, writing each to the store as it ends.

    In this process by default; ``workers > 1`` or ``backend="process"|"ray"`` hands the trials to
    :mod:`optbench.backends` (the driver still writes the store).
    """
    from optbench.backends import execute as execute_on_backend  # lazy: backends imports this module

    execute_on_backend(study, on_trial, backend, workers, address)


def run(
    tasks: str | Iterable[str | Spec],
    optims: str | Iterable[str | Spec],
    schedules: str | Iterable[str | Spec] = "constant",
    batch_sizes: str | Iterable[int | str] | None = None,
    seeds: str | Iterable[int] = (0,),
    steps: int | None = None,
    epochs: float | None = None,
    seconds: float | None = None,
    eval_every: int | None = None,
    out: str | Path | None = None,
    results_dir: str | Path = "results",
    device: str = "auto",
    threads: int | None = None,
    plugins: Iterable[str | Path] = (),
    registry: Registry | None = None,
    progress: bool = False,
    save_checkpoints: bool = True,
    diagnose: str | None = None,
    noise_scale: str | None = None,
) -> pd.DataFrame:
    """Run a study and return its trials table (one row per trial; ``.attrs['store']`` is the folder).

    Example::

        df = optbench.run("quadratic", "sgd,adam[lr=1e-3|1e-2]", seeds="0-2", steps=200)
    """
    study = prepare(tasks, optims, schedules, batch_sizes, seeds, steps, epochs, seconds, eval_every, out,
                    results_dir, device, threads, plugins, registry, save_checkpoints, diagnose, noise_scale)
    if progress:
        from optbench.console import run_with_progress

        run_with_progress(study)
    else:
        execute(study)
    return study.trials()


def copy_config(config: TrialConfig, **changes: Any) -> TrialConfig:
    """A copy of ``config`` with fields replaced (e.g. another seed)."""
    return TrialConfig(**{**copy.deepcopy(asdict(config)), "budget": config.budget, **changes})

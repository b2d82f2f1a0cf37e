"""A study: a planned set of trials bound to its store, run on a backend, resumable.

:func:`prepare` validates and plans a :class:`~optbench.plan.StudySpec`, opens its store, records the
run in the manifest and what every task configuration declares (``tasks/<key>.json``: metrics,
headline, target, and for 2-D surfaces the contour grid, so reports read only the store).
:func:`execute` runs the pending trials -- those not in the store yet, and failed ones again (a crash
may be fixed by now; a diverged trial is a result and is kept) -- and :func:`run` is the Python API
behind ``optbench run``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from optbench.declaration import declare
from optbench.errors import OptbenchError, SpecError
from optbench.plan import StudySpec, TaskCache, plan, plan_key, total_steps
from optbench.registry import Registry, load_registry
from optbench.store import Store, safe_slug
from optbench.tasks.base import Task
from optbench.threads import machine_load
from optbench.trial import Options, TrialConfig, TrialResult

OnTrial = Callable[[TrialConfig, "TrialResult | None"], None]
SURFACE_GRID = 121  # points per axis of a 2-D surface's stored contour grid


def default_store_path(configs: list[TrialConfig], results_dir: str | Path = "results") -> Path:
    """``results/<date>-<tasks>-<hash>``; an existing store for the same study is reused."""
    digest = hashlib.sha1("".join(sorted(c.trial_id for c in configs)).encode()).hexdigest()[:8]
    results_dir = Path(results_dir)
    existing = sorted(results_dir.glob(f"*-{digest}")) if results_dir.is_dir() else []
    if existing:
        return existing[-1]
    tasks = safe_slug("+".join(dict.fromkeys(c.task for c in configs)), 40)
    return results_dir / f"{date.today():%Y%m%d}-{tasks}-{digest}"


def resolve_device(device: str) -> str:
    device = device.lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptbenchError("device cuda asked for, but torch sees no CUDA GPU here")
    if device != "cpu" and not device.startswith("cuda"):
        raise SpecError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def planned_steps(config: TrialConfig, task: Task) -> int | None:
    """Steps ``config`` will train for, or None when only time bounds it."""
    batch = task.n_train if config.batch_size == "full" else min(int(config.batch_size), task.n_train)
    steps = total_steps(config.budget, math.ceil(task.n_train / batch))
    return steps if steps < 10**12 else None


def task_info(config: TrialConfig, task: Task) -> dict[str, Any]:
    """What a task configuration declares, as stored in ``tasks/<task_key>.json`` (see :mod:`optbench.declaration`)."""
    surface = None
    if task.is_2d:
        xmin, xmax, ymin, ymax = task.plot_box()
        xs = torch.linspace(xmin, xmax, SURFACE_GRID, dtype=torch.float64)
        ys = torch.linspace(ymin, ymax, SURFACE_GRID, dtype=torch.float64)
        grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
        surface = {"box": [xmin, xmax, ymin, ymax], "x": xs.tolist(), "y": ys.tolist(),
                   "z": task.surface(grid_x, grid_y).tolist()}
    return declare(task, name=config.task, label=config.task_label, params=config.task_params,
                   data_source=config.data_source, surface=surface).to_json()


@dataclass
class Study:
    """A planned study bound to its store: what :func:`execute` runs."""

    configs: list[TrialConfig]
    store: Store
    registry: Registry
    options: Options
    run_config: dict[str, Any] = field(default_factory=dict)
    force: bool = False
    #: steps each trial will take (None for time budgets): progress bars and the study's ETA
    planned_steps: dict[str, int | None] = field(default_factory=dict)

    def pending(self) -> list[TrialConfig]:
        """Trials to run: missing ones, failed ones (retried), or all of them with ``force``."""
        if self.force:
            return list(self.configs)
        trials = self.store.read_trials()
        kept = set() if trials.empty else set(trials.loc[trials["status"] != "failed", "trial_id"])
        return [c for c in self.configs if c.trial_id not in kept]

    def record(self, result: TrialResult) -> None:
        """Write a finished trial: weights and diagnosis first, the trial row (which marks it done) last."""
        trial_id = result.row["trial_id"]
        if result.checkpoint is not None:
            self.store.write_checkpoint(trial_id, result.checkpoint, "best")
        if result.final_state is not None:
            self.store.write_checkpoint(trial_id, result.final_state, "final")
        if result.diagnosis is not None:
            if "landscape" in result.diagnosis:  # --diagnose landscape=true: its own file
                self.store.write_landscape(trial_id, {"trial_id": trial_id, **result.diagnosis.pop("landscape")})
            self.store.write_diagnosis(trial_id, result.diagnosis)
        self.store.write_trial(result.row, result.metrics)

    def trials(self) -> pd.DataFrame:
        frame = self.store.read_trials()
        if frame.empty:
            return frame
        ids = {c.trial_id for c in self.configs}
        frame = frame[frame["trial_id"].isin(ids)].reset_index(drop=True)
        frame.attrs["store"] = str(self.store.path)
        return frame


def _options(spec: StudySpec, workers: int) -> Options:
    threads = spec.threads
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise SpecError(f"threads must be 'auto' or a whole number >= 1, got {threads!r}")
    options = Options(device=resolve_device(spec.device), save_checkpoints=spec.save_checkpoints,
                      threads=threads, workers=workers)
    if spec.diagnose is not None or spec.noise_scale is not None:  # parsed before any work
        from optbench.curvature import DiagnoseSettings, NoiseScaleSettings

        options.diagnose = DiagnoseSettings.parse(spec.diagnose) if spec.diagnose is not None else None
        options.noise_scale = NoiseScaleSettings.parse(spec.noise_scale) if spec.noise_scale is not None else None
    return options


def _run_config(spec: StudySpec, configs: list[TrialConfig], options: Options, registry: Registry) -> dict:
    return {
        "tasks": sorted({c.task_label for c in configs}),
        "optimizers": sorted({c.optimizer_label for c in configs}),
        "schedules": sorted({c.schedule_label for c in configs}),
        "batch_sizes": sorted({str(c.batch_size) for c in configs}),
        "seeds": sorted({c.seed for c in configs}),
        "steps": spec.steps, "epochs": spec.epochs, "seconds": spec.seconds, "eval_every": spec.eval_every,
        "data_dir": None if spec.data_dir is None else str(spec.data_dir),
        "device": options.device, "threads": options.threads, "workers": options.workers,
        "load_avg": [round(value, 2) for value in _load_averages()],
        "plugins": [str(p) for p in registry.plugin_sources], "n_trials": len(configs),
        "diagnose": spec.diagnose, "noise_scale": spec.noise_scale, "force": spec.force,
    }


def _load_averages() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except (AttributeError, OSError):
        return (machine_load(), 0.0, 0.0)


def as_spec(tasks: Any, optims: Any = None, *args: Any, **settings: Any) -> StudySpec:
    """A :class:`StudySpec` as given, or made from its fields (a misspelt field is a one-line user error)."""
    if isinstance(tasks, StudySpec):
        return tasks
    try:
        return StudySpec(tasks, optims, *args, **settings)
    except TypeError as exc:
        raise SpecError(str(exc)) from None


def prepare(tasks: StudySpec | Any, optims: Any = None, *, registry: Registry | None = None,
            workers: int | str = 1, **settings: Any) -> Study:
    """Validate and plan a study, open its store, and record the run and the task declarations.

    ``workers``: a number, or ``"auto"`` (chosen from the pending trials and the machine's free cores:
    :func:`optbench.backends.choose_workers`); the choice is ``study.options.workers``, recorded with its
    reason in the manifest.

    ``prepare(StudySpec(...))`` or ``prepare(tasks, optims, **fields of StudySpec)``. A study planned before
    (same :func:`~optbench.plan.plan_key`) whose trials are all in its store is rebuilt from the store
    instead: no task is built and no data loaded, so a rerun with nothing to do answers at once."""
    from optbench.backends import decide_workers, parse_workers
    from optbench.forkserver import start_pool_early

    spec = as_spec(tasks, optims, **settings)
    registry = registry or load_registry(plugins=spec.plugins)
    workers = parse_workers(workers)
    options = _options(spec, workers if isinstance(workers, int) else 1)
    key = plan_key(spec, registry)
    stored = None if spec.force or key is None else stored_study(spec, key, registry, options)
    if stored is not None:
        return stored
    if isinstance(workers, int) and workers > 1:  # the pool's fork server imports torch while we plan
        start_pool_early(workers)
    cache = TaskCache(registry)
    configs = plan(spec, registry, cache)
    store = Store(spec.out if spec.out is not None else default_store_path(configs, spec.results_dir)).create()
    study = Study(configs, store, registry, options, _run_config(spec, configs, options, registry), spec.force,
                  {c.trial_id: planned_steps(c, cache.get(c.task, c.task_params)) for c in configs})
    choice = decide_workers(workers, study.pending() if workers == "auto" else [], cache)
    options.workers = choice.workers  # the thread policy divides the cores among them
    study.run_config.update(workers=choice.workers, workers_reason=choice.reason)
    if workers == "auto" and choice.workers > 1:
        start_pool_early(choice.workers)
    if study.pending():  # a no-op rerun leaves the manifest as it was
        store.update_manifest(study.run_config)
    for config in {c.task_key: c for c in configs}.values():
        store.write_task_info(config.task_key, task_info(config, cache.get(config.task, config.task_params)))
    if key is not None:
        store.write_json(f"{PLANS}/{key}.json", {"trial_ids": [c.trial_id for c in configs]})
    return study


#: where a store remembers which trials each planned study had (``plans/<plan key>.json``)
PLANS = "plans"


def _plan_file(spec: StudySpec, key: str) -> Path | None:
    if spec.out is not None:
        path = Path(spec.out) / PLANS / f"{key}.json"
        return path if path.is_file() else None
    results = Path(spec.results_dir)
    found = sorted(results.glob(f"*/{PLANS}/{key}.json")) if results.is_dir() else []
    return found[-1] if found else None


def stored_study(spec: StudySpec, key: str, registry: Registry, options: Options) -> Study | None:
    """The study planned under ``key`` when every one of its trials is in its store (none failed), its
    configurations read back from the trial rows (each checked to hash to its id); else None."""
    path = _plan_file(spec, key)
    try:
        wanted = json.loads(path.read_text())["trial_ids"] if path is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not wanted:
        return None
    store = Store(path.parent.parent)
    rows = {row["trial_id"]: row for row in store.read_trials().to_dict("records")} if store.exists() else {}
    if any(i not in rows or rows[i].get("status") == "failed" for i in wanted):
        return None
    configs = [TrialConfig.from_row(rows[i]) for i in wanted]
    if [c.trial_id for c in configs] != list(wanted):
        return None
    store.create()
    return Study(configs, store, registry, options, _run_config(spec, configs, options, registry), False,
                 {c.trial_id: None for c in configs})


#: a store this big gets a read index when a study ends: below it, reading its files costs less (~0.3 s
#: for 256 trials) than writing the index does at the end of every study
INDEX_FROM_TRIALS = 256


def execute(study: Study, on_trial: OnTrial | None = None, backend: str = "sequential", workers: int = 1,
            address: str | None = None) -> None:
    """Run the study's pending trials on ``backend`` (see :mod:`optbench.backends`), recording each."""
    from optbench.backends import execute as execute_on_backend

    execute_on_backend(study, on_trial, backend, workers, address)
    if len(study.store.finished_ids()) >= INDEX_FROM_TRIALS:
        study.store.compact()  # one read index for what is finished: reports then open 3 files, not 2 per trial


def run(tasks: Any, optims: Any, *args: Any, progress: bool = False, registry: Registry | None = None,
        backend: str = "sequential", workers: int | str = 1, address: str | None = None,
        **settings: Any) -> pd.DataFrame:
    """Run a study and return its trials table (one row per trial; ``.attrs['store']`` is the folder).

    ``settings`` are the fields of :class:`~optbench.plan.StudySpec` (schedules, batch_sizes, seeds, steps,
    epochs, seconds, eval_every, data_dir, out, threads, force, ...). Example::

        df = optbench.run("quadratic", "sgd,adam[lr=1e-3|1e-2]", seeds="0-2", steps=200)
    """
    study = prepare(as_spec(tasks, optims, *args, **settings), registry=registry, workers=workers)
    workers = study.options.workers  # "auto" decided
    if progress:
        from optbench.console import run_with_progress

        run_with_progress(study, backend=backend, workers=workers, address=address)
    else:
        execute(study, backend=backend, workers=workers, address=address)
    return study.trials()

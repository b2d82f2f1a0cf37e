"""Diagnosing a trial of a store: find it, rebuild its configuration, load its saved weights, diagnose.

This module owns the API behind ``optbench diagnose STORE ID``: ``Results.find_trial`` (unique id prefix),
:func:`trial_config_from_row` (a stored row back to its :class:`~optbench.trial.TrialConfig`, data source
included, checked against the stored id), :func:`load_point` (the model at ``final`` / ``best`` / ``init``
from ``checkpoints/<id>.final.pt`` / ``checkpoints/<id>.pt`` / the task's ``init_model(seed)``, read with
``weights_only=True``) and :func:`diagnose_trial`. Only a store without ``<id>.final.pt`` (written before
the runner saved final weights) makes ``final`` replay the training, which is deterministic on the CPU.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optbench.curvature.hooks import DiagnoseSettings, diagnosis_path, write_diagnosis
from optbench.errors import OptbenchError
from optbench.tasks.base import Task

POINTS = ("final", "best", "init")
ALIASES = {"checkpoint": "best"}  # the name this point had before final weights were stored


def trial_config_from_row(row: dict[str, Any]) -> Any:
    """The :class:`~optbench.trial.TrialConfig` a stored trial row was run with (its id must match)."""
    from optbench.trial import TrialConfig

    config = TrialConfig.from_row(row)
    if config.trial_id != row["trial_id"]:
        raise OptbenchError(f"trial {row['trial_id']}: its stored configuration no longer hashes to its id "
                            f"(got {config.trial_id}); it was written by another optbench version")
    return config


def weights_path(store_path: str | Path, trial_id: str, at: str) -> Path:
    """Where the runner saves a trial's weights: ``<id>.final.pt`` (final) and ``<id>.pt`` (best)."""
    suffix = ".final.pt" if at == "final" else ".pt"
    return Path(store_path) / "checkpoints" / f"{trial_id}{suffix}"


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    """``model`` with the state dict at ``path`` (tensors only: ``weights_only=True``), one-line errors."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file is the user's one-line problem
        raise OptbenchError(f"{path}: not loadable weights for this trial's model ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return model


def build_task(config: Any, registry: Any) -> Task:
    """The trial's task, on the trial's own data (``data_dir`` = its stored data source when they differ)."""
    from optbench.plan import TaskCache

    task = TaskCache(registry).get(config.task, config.task_params)
    if config.data_source is None or task.data_source == config.data_source:
        return task
    factory = registry.get("task", config.task).factory
    if "data_dir" not in inspect.signature(factory).parameters or not Path(config.data_source).exists():
        raise OptbenchError(f"trial's data {config.data_source} is not what task {config.task!r} reads now "
                            f"({task.data_source}), and it cannot be reloaded from there")
    return TaskCache(registry).get(config.task, {**config.task_params, "data_dir": config.data_source})


@dataclass
class Point:
    """A model to diagnose and where its weights came from (``replay`` when they had to be re-trained)."""

    task: Task
    model: nn.Module | None
    source: str


REPLAY_NOTE = ("no {path} (a store written before the runner saved final weights): "
               "replayed the training, which is deterministic on the CPU, to reach them")


def load_point(store_path: str | Path, config: Any, at: str, registry: Any) -> Point:
    """The trial's model at ``at``; ``model`` is None when final weights are missing and must be replayed."""
    task = build_task(config, registry)
    if at == "init":
        return Point(task, task.init_model(config.seed), "init_model(seed)")
    path = weights_path(store_path, config.trial_id, at)
    if path.is_file():
        return Point(task, load_weights(task.init_model(config.seed), path), str(path))
    if at == "best":
        raise OptbenchError(f"trial {config.trial_id} has no best checkpoint ({path} is missing: its task "
                            "keeps none); use --at final or --at init")
    return Point(task, None, REPLAY_NOTE.format(path=path))


def _replay(config: Any, registry: Any, task: Task, settings: DiagnoseSettings) -> dict[str, Any]:
    """Re-train the trial (no checkpoints written) and return its end-of-trial diagnosis document."""
    from optbench.loop import run_trial
    from optbench.plan import TaskCache
    from optbench.trial import Options

    class _ThisTask(TaskCache):  # the task already built on the trial's own data
        def get(self, name: str, params: dict[str, Any], device: str = "cpu") -> Task:
            return task

    result = run_trial(config, registry, Options(device="cpu", save_checkpoints=False, diagnose=settings),
                       _ThisTask(registry))
    if result.row["status"] != "completed" or result.diagnosis is None:
        raise OptbenchError(f"trial {config.trial_id} did not complete when replayed ({result.row['status']}: "
                            f"{result.row['error']}); diagnose it with --at init or --at best")
    return result.diagnosis


def diagnose_point(point: Point, config: Any, at: str, registry: Any, settings: DiagnoseSettings) -> dict[str, Any]:
    """The diagnosis document of one point (``point``, ``weights``: where they came from, and the numbers)."""
    if point.model is None:
        document = _replay(config, registry, point.task, settings)
        document["notes"] = [point.source, *document.get("notes", [])]
    else:
        document = settings.run(point.task, point.model, config.seed).to_dict()
    return {**document, "point": at, "weights": "replayed training" if point.model is None else point.source}


def diagnose_trial(store_path: str | Path, trial_id: str, at: str = "final", settings: DiagnoseSettings | None = None,
                   recompute: bool = False, registry: Any = None, threads: int | None = None) -> dict[str, Any]:
    """Diagnose a stored trial at ``at`` (final / best / init); store and return the JSON document.

    The end-of-trial diagnosis the run stored is returned as it is when ``at`` is final, no ``settings``
    are given and ``recompute`` is false. ``threads`` pins torch's intra-op threads for the computation.
    """
    from optbench.registry import load_registry
    from optbench.store import Store

    at = ALIASES.get(at, at)
    if at not in POINTS:
        raise OptbenchError(f"--at must be one of {', '.join(POINTS)}, got {at!r}")
    if threads is not None and threads < 1:
        raise OptbenchError(f"--threads must be >= 1, got {threads}")
    store = Store(store_path)
    row = store.load().find_trial(trial_id)
    trial_id = row["trial_id"]
    stored = diagnosis_path(store.path, trial_id)
    if at == "final" and settings is None and not recompute and stored.is_file():
        return {"trial_id": trial_id, **json.loads(stored.read_text())}
    config = trial_config_from_row(row)
    registry = registry or load_registry()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        point = load_point(store.path, config, at, registry)
        document = diagnose_point(point, config, at, registry, settings or DiagnoseSettings())
    finally:
        torch.set_num_threads(previous)
    write_diagnosis(store.path, trial_id, document, trial_id if at == "final" else f"{trial_id}-{at}")
    return {"trial_id": trial_id, **document}

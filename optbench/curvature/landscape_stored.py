"""Landscape slices of a stored trial: its weights, its replayed trajectory, the store's ``landscape/`` file.

This module owns :func:`landscape_trial` (what ``optbench landscape STORE TRIAL`` runs) and
:func:`replay_snapshots`. The store keeps only the initial (rebuilt from the seed), best and final weights,
and a principal-component plane of three points is not a trajectory's; so the trajectory plane comes from
a replay of the training (deterministic on the CPU) that takes ``snapshots`` evenly spaced weight snapshots.
The replay's last snapshot is compared with the stored final weights and the difference is recorded; the
plane is centred on the stored final weights. Kept apart from :mod:`.landscape` because it needs the runner
(``optbench.loop``), which itself imports the curvature hooks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from optbench.curvature.hooks import _parse_settings
from optbench.curvature.landscape import LandscapeSettings, flat_weights, landscape
from optbench.curvature.stored import ALIASES, POINTS, load_point, load_weights, trial_config_from_row, weights_path
from optbench.errors import OptbenchError
from optbench.tasks.base import Task


def parse_settings(text: str | None) -> LandscapeSettings:
    """``optbench landscape --settings K=V,...`` (the curvature options' one K=V parser)."""
    return _parse_settings(LandscapeSettings, text, "--settings")


def replay_snapshots(config: Any, registry: Any, task: Task, snapshots: int) -> tuple[torch.Tensor, list[int]]:
    """Re-train the trial (no checkpoints, no diagnosis) and return ~``snapshots`` flat weight vectors and
    the steps they were taken at: step 0, every ⌈total/snapshots⌉ steps, and the last step."""
    from optbench.loop import TrainingLoop
    from optbench.plan import TaskCache
    from optbench.trial import Options

    class _ThisTask(TaskCache):  # the task already built on the trial's own data
        def get(self, name: str, params: dict[str, Any], device: str = "cpu") -> Task:
            return task

    taken: list[torch.Tensor] = []
    steps: list[int] = []

    class _Recorder(TrainingLoop):
        def setup(self) -> None:
            super().setup()
            self.every = max(1, math.ceil(self.total_steps / snapshots))
            taken.append(flat_weights(self.model).double().cpu())
            steps.append(0)

        def after_step(self, loss: float, batch_examples: int) -> None:
            super().after_step(loss, batch_examples)
            if self.step % self.every == 0:
                taken.append(flat_weights(self.model).double().cpu())
                steps.append(self.step)

    loop = _Recorder(config, registry, Options(device="cpu", save_checkpoints=False, threads=torch.get_num_threads()),
                     _ThisTask(registry))
    result = loop.run()
    if result.row["status"] != "completed":
        raise OptbenchError(f"trial {config.trial_id} did not complete when replayed ({result.row['status']}: "
                            f"{result.row['error']}); use --settings trajectory=false")
    if steps[-1] != loop.step:
        taken.append(flat_weights(loop.model).double().cpu())
        steps.append(loop.step)
    return torch.stack(taken), steps


def _trajectory(store_path: Path, config: Any, registry: Any, task: Task,
                settings: LandscapeSettings) -> tuple[torch.Tensor | None, list[int], list[str]]:
    """Replayed snapshots ending at the stored final weights, and notes on how well the replay matched.

    ``task`` is the one already built for the point (a phoneme task loads its data once, not per use)."""
    if not settings.trajectory:
        return None, [], []
    snapshots, steps = replay_snapshots(config, registry, task, settings.snapshots)
    path = weights_path(store_path, config.trial_id, "final")
    stored = flat_weights(load_weights(task.init_model(config.seed), path)).double() if path.is_file() \
        else snapshots[-1]
    gap = float((snapshots[-1] - stored).norm() / stored.norm().clamp_min(1e-300))
    notes = [f"trajectory: {len(steps)} snapshots from a replay of the training (the store keeps only "
             f"init, best and final weights); the replay ends {gap:.2g} (relative) from the stored final weights"]
    snapshots[-1] = stored
    return snapshots, steps, notes


@contextlib.contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads pinned to ``threads`` (when given) for the block, restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def landscape_trial(store_path: str | Path, trial_id: str, at: str = "final",
                    settings: LandscapeSettings | None = None, registry: Any = None,
                    threads: int | None = None) -> dict[str, Any]:
    """Slice a stored trial's landscape around its ``at`` weights; store and return the JSON document."""
    from optbench.registry import load_registry
    from optbench.store import Store

    at = ALIASES.get(at, at)
    if at not in POINTS:
        raise OptbenchError(f"--at must be one of {', '.join(POINTS)}, got {at!r}")
    if threads is not None and threads < 1:
        raise OptbenchError(f"--threads must be >= 1, got {threads}")
    settings = settings or LandscapeSettings()
    store = Store(store_path)
    config = trial_config_from_row(store.load().find_trial(trial_id))
    with _threads(threads):
        point = load_point(store.path, config, at, registry := registry or load_registry())
        if point.model is None:
            raise OptbenchError(f"trial {config.trial_id} has no stored final weights ({point.source.split(' (')[0]}"
                                "); slice it --at init or --at best")
        init = flat_weights(point.task.init_model(config.seed))
        snapshots, steps, notes = _trajectory(store.path, config, registry, point.task, settings)
        document = landscape(point.task, point.model, config.seed, settings, init, snapshots, steps)
    document = {"trial_id": config.trial_id, "point": at, "weights": point.source, **document}
    document["notes"] = notes + document["notes"]
    store.write_landscape(config.trial_id if at == "final" else f"{config.trial_id}-{at}", document)
    return document

"""Live logging of every finished trial's records to TensorBoard event files: ``optbench run --track DIR``.

Optional (``pip install 'optbench[tensorboard]'``), never required: the store stays the record, this is a
copy for the tools a lab already watches. :class:`TensorBoardTracker` is an ``on_trial(config, result)``
observer (:data:`optbench.backends.OnTrial`): when a trial finishes, on any backend, it writes one run
folder, ``DIR/<task>/<optimizer · schedule · bs · seed>-<trial id>``, holding every recorded value as a
scalar (tag: the recorded name, x: the step, wall time: the trial's own clock from its start) and the
trial's configuration and status as text. It judges nothing: which names are metrics, and which way is
better, is in the store's declarations.

TensorBoard was chosen over MLflow as the lighter real option: its writer (``torch.utils.tensorboard``)
needs the ``tensorboard`` package (five small wheels beside what the test extra already installs), where
MLflow pulls some forty packages (Flask, SQLAlchemy, scikit-learn, its own pyarrow).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from optbench.errors import OptbenchError

INSTALL = "pip install 'optbench[tensorboard]'"


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise OptbenchError(f"--track writes TensorBoard event files and needs tensorboard: {INSTALL}") from None
    return SummaryWriter


class TensorBoardTracker:
    """Writes each finished trial's records under ``log_dir`` as TensorBoard scalars (see the module)."""

    def __init__(self, log_dir: str | Path):
        self.writer_class = _writer_class()  # refused before any training
        self.log_dir = Path(log_dir)
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptbenchError(f"cannot write TensorBoard logs to {self.log_dir}: {exc.strerror or exc}") from None
        self.started = time.time()

    def run_dir(self, config: Any) -> Path:
        """``<task>/<optimizer · schedule · bs · seed>-<trial id>``, each part a safe folder name."""
        from optbench.store import safe_slug

        name = f"{config.optimizer_label} · {config.schedule_label} · bs={config.batch_size} · seed={config.seed}"
        return self.log_dir / safe_slug(config.task_label) / f"{safe_slug(name, 100)}-{config.trial_id}"

    def __call__(self, config: Any, result: Any) -> None:
        if result is None:  # a trial starting: nothing to log yet
            return
        writer = self.writer_class(log_dir=str(self.run_dir(config)))
        try:
            metrics = result.metrics
            for name, step, value, clock in zip(metrics["metric"].astype(str), metrics["step"],
                                                metrics["value"], metrics["time"], strict=True):
                writer.add_scalar(name, float(value), int(step), walltime=self.started + float(clock))
            row = {k: result.row.get(k) for k in ("trial_id", "status", "diverged_step", "diverged_reason", "error",
                                                    "steps", "train_time")}
            writer.add_text("trial", f"{config.label}\n\n{json.dumps(row, default=str)}")
        finally:
            writer.close()

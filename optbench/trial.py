"""A trial: the configuration that determines its numbers, its identity, and what it hands to the store.

A *trial* is one cell of tasks × optimizers (× their grids) × schedules × batch sizes × seeds. Its
:class:`TrialConfig` holds the fully resolved hyperparameters (signature defaults included) and the
identity of the code behind each registry entry, so the trial id -- a hash of all of it -- changes
whenever anything that could change the numbers does. :meth:`TrialConfig.from_row` rebuilds the
configuration from a stored trial row (diagnose and predict replay stored trials).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from optbench.spec import canonical_json
from optbench.tasks.base import Budget


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
    #: what code produced the numbers: {"optimizer": ..., "schedule": ..., "task": ...} version strings
    code: dict[str, str] = field(default_factory=dict)

    @property
    def trial_id(self) -> str:
        payload = {k: v for k, v in asdict(self).items() if not k.endswith("_label")}
        return hashlib.sha1(canonical_json(payload).encode()).hexdigest()[:16]

    @property
    def task_key(self) -> str:
        """Identity of the task configuration alone (names its ``tasks/<key>.json`` in the store)."""
        payload = {"task": self.task, "params": self.task_params, "data_source": self.data_source,
                   "code": self.code.get("task")}
        return hashlib.sha1(canonical_json(payload).encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return (f"{self.task_label} · {self.optimizer_label} · {self.schedule_label} · "
                f"bs={self.batch_size} · seed={self.seed}")

    def config_columns(self) -> dict[str, Any]:
        """The trial row's configuration columns (what :meth:`from_row` reads back)."""
        return {
            "trial_id": self.trial_id, "task_key": self.task_key,
            "task": self.task, "task_label": self.task_label,
            "task_params": canonical_json(self.task_params), "data_source": self.data_source,
            "optimizer": self.optimizer, "optimizer_label": self.optimizer_label,
            "optimizer_params": canonical_json(self.optimizer_params),
            "lr": float(self.optimizer_params.get("lr", math.nan)),
            "schedule": self.schedule, "schedule_label": self.schedule_label,
            "schedule_params": canonical_json(self.schedule_params),
            "batch_size": str(self.batch_size), "seed": int(self.seed),
            "budget_steps": self.budget.steps, "budget_epochs": self.budget.epochs,
            "budget_seconds": self.budget.seconds, "eval_every": self.eval_every,
            "code": canonical_json(self.code),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrialConfig:
        """The configuration a stored trial row was run with (its id equals the stored one)."""
        def optional(name: str, kind: type) -> Any:
            value = row.get(name)
            return None if value is None or (isinstance(value, float) and math.isnan(value)) else kind(value)

        size = str(row["batch_size"])
        return cls(
            task=row["task"], task_params=json.loads(row["task_params"]), task_label=row["task_label"],
            optimizer=row["optimizer"], optimizer_params=json.loads(row["optimizer_params"]),
            optimizer_label=row["optimizer_label"],
            schedule=row["schedule"], schedule_params=json.loads(row["schedule_params"]),
            schedule_label=row["schedule_label"],
            batch_size=size if size == "full" else int(size), seed=int(row["seed"]),
            budget=Budget(optional("budget_steps", int), optional("budget_epochs", float),
                          optional("budget_seconds", float)),
            eval_every=optional("eval_every", int), data_source=optional("data_source", str),
            code=json.loads(row["code"]) if isinstance(row.get("code"), str) else {},
        )


@dataclass
class TrialResult:
    """What a finished trial hands to the store: its summary row, metrics and saved weights."""

    row: dict[str, Any]
    metrics: pd.DataFrame
    checkpoint: dict[str, Any] | None = None  # best state by the task's checkpoint metric
    final_state: dict[str, Any] | None = None  # the weights at the end of training
    diagnosis: dict[str, Any] | None = None  # end-of-trial curvature diagnosis (optbench.curvature)


@dataclass
class Options:
    """How trials run (not part of their identity)."""

    device: str = "cpu"
    save_checkpoints: bool = True
    threads: int | str = "auto"  # an int, or "auto" (see optbench.threads)
    workers: int = 1  # processes sharing the machine (the thread policy divides the cores)
    diagnose: Any = None  # optbench.curvature.DiagnoseSettings: end-of-trial diagnosis, outside the clock
    noise_scale: Any = None  # optbench.curvature.NoiseScaleSettings: gradient noise scale every N steps
    #: called as on_step(step, total_steps) every so often, for progress bars (in-process runs only)
    on_step: Callable[[int, int], None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # a progress callback belongs to the driver's terminal: workers get none (and it need not pickle)
        return {**self.__dict__, "on_step": None}

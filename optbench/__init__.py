"""optbench: compare optimizers and learning-rate schedules on toy surfaces and the HW2 phoneme task.

The public Python API (the CLI is a thin layer over it)::

    import optbench
    df = optbench.run("quadratic,saddle", "sgd,adam", seeds="0-2", steps=300)   # trials DataFrame
    res = optbench.load(df.attrs["store"])           # .trials, .metrics (long format), .manifest
    optbench.list_optimizers()                        # registry entries
    opt = optbench.create_optimizer("adam", model.parameters(), lr=3e-4)

Plugins define module-level entries with :func:`optimizer`, :func:`schedule` and :func:`task`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"

from optbench.errors import OptbenchError  # noqa: E402
from optbench.registry import Entry, Registry, load_registry, optimizer, schedule, task  # noqa: E402
from optbench.runner import plan, run  # noqa: E402
from optbench.store import Results, load  # noqa: E402
from optbench.tasks.base import Budget, CriticalPoint, Parameters, Task  # noqa: E402

__all__ = [
    "Budget", "CriticalPoint", "Entry", "OptbenchError", "Parameters", "Registry", "Results", "Task",
    "create_optimizer", "create_schedule", "create_task", "list_optimizers", "list_schedules", "list_tasks",
    "load", "load_registry", "optimizer", "plan", "run", "schedule", "task",
]


def _registry(plugins: Any = ()) -> Registry:
    return load_registry(plugins=[Path(p) if str(p).endswith(".py") else p for p in plugins])


def list_optimizers(plugins: Any = ()) -> list[Entry]:
    """Every optimizer entry (builtins, entry points, ./plugins and ``plugins``)."""
    return _registry(plugins).list("optimizer")


def list_schedules(plugins: Any = ()) -> list[Entry]:
    """Every schedule entry."""
    return _registry(plugins).list("schedule")


def list_tasks(plugins: Any = ()) -> list[Entry]:
    """Every task entry."""
    return _registry(plugins).list("task")


def create_optimizer(name: str, params: Any, registry: Registry | None = None, **hparams: Any) -> Any:
    """A ``torch.optim.Optimizer`` for ``params`` from the registry entry ``name``."""
    return (registry or load_registry()).get("optimizer", name).create(params, **hparams)


def create_schedule(name: str, total_steps: int, registry: Registry | None = None, **hparams: Any) -> Any:
    """A schedule ``step -> learning-rate multiplier`` from the registry entry ``name``."""
    return (registry or load_registry()).get("schedule", name).create(total_steps, **hparams)


def create_task(name: str, registry: Registry | None = None, **hparams: Any) -> Task:
    """A task instance from the registry entry ``name``."""
    return (registry or load_registry()).get("task", name).create(**hparams)

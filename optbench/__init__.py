"""optbench: compare optimizers and learning-rate schedules on toy surfaces and the HW2 phoneme task.

The public Python API (the CLI is a thin layer over it)::

    import optbench
    df = optbench.run("quadratic,saddle", "sgd,adam", seeds="0-2", steps=300)   # trials DataFrame
    res = optbench.load(df.attrs["store"])           # .trials, .metrics (long format), .manifest
    optbench.list_optimizers()                        # registry entries
    opt = optbench.create_optimizer("adam", model.parameters(), lr=3e-4)

Plugins define module-level entries with :func:`optimizer`, :func:`schedule` and :func:`task`.
Names are imported on first use, so ``import optbench`` (and ``optbench --help``) does not load torch.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily, PEP 562)
_LAZY = {
    "OptbenchError": "optbench.errors",
    "Entry": "optbench.registry", "Registry": "optbench.registry", "load_registry": "optbench.registry",
    "optimizer": "optbench.registry", "schedule": "optbench.registry", "task": "optbench.registry",
    "StudySpec": "optbench.plan",
    "run": "optbench.study", "prepare": "optbench.study",
    "Results": "optbench.store", "load": "optbench.store",
    "Budget": "optbench.tasks.base", "CriticalPoint": "optbench.tasks.base", "Metric": "optbench.tasks.base",
    "Parameters": "optbench.tasks.base", "Target": "optbench.tasks.base", "Task": "optbench.tasks.base",
    "Trace": "optbench.tasks.base", "Declaration": "optbench.declaration", "judge": "optbench.judge",
}

__all__ = [*_LAZY, "create_optimizer", "create_schedule", "create_task", "list_optimizers", "list_schedules",
           "list_tasks"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optbench' has no attribute {name!r}")


def _registry(plugins: Any = ()) -> Any:
    from optbench.registry import load_registry

    return load_registry(plugins=[Path(p) if str(p).endswith(".py") else p for p in plugins])


def list_optimizers(plugins: Any = ()) -> list[Any]:
    """Every optimizer entry (builtins, entry points, ./plugins and ``plugins``)."""
    return _registry(plugins).list("optimizer")


def list_schedules(plugins: Any = ()) -> list[Any]:
    """Every schedule entry."""
    return _registry(plugins).list("schedule")


def list_tasks(plugins: Any = ()) -> list[Any]:
    """Every task entry."""
    return _registry(plugins).list("task")


def create_optimizer(name: str, params: Any, registry: Any = None, **hparams: Any) -> Any:
    """A ``torch.optim.Optimizer`` for ``params`` from the registry entry ``name``."""
    return (registry or _registry()).get("optimizer", name).create(params, **hparams)


def create_schedule(name: str, total_steps: int, registry: Any = None, **hparams: Any) -> Any:
    """A schedule ``step -> learning-rate multiplier`` from the registry entry ``name``."""
    return (registry or _registry()).get("schedule", name).create(total_steps, **hparams)


def create_task(name: str, registry: Any = None, **hparams: Any) -> Any:
    """A task instance from the registry entry ``name``."""
    return (registry or _registry()).get("task", name).create(**hparams)

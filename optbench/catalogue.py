"""The pytorch-optimizer catalogue: its optimizers and LR schedulers as registry entries named ``tpo.<name>``.

Installed with the ``catalogue`` extra (``pip install -e ".[catalogue]"``). Importing pytorch-optimizer
takes most of a second, so nothing here imports it until a catalogue entry is needed: :meth:`Registry.get`
calls :func:`resolve` for an unknown ``tpo.*`` name, and ``optbench list optimizers --all`` calls
:func:`add_catalogue`.

Adapters:

- optimizers: ``tpo.<name>`` constructs the catalogue's class with the user's hyperparameters; its
  defaults are the class's signature (nothing restated) and its search space a learning-rate range of
  two decades either side of the class's default ``lr``.
- schedulers: optbench schedules are pure functions ``step -> multiplier``, the catalogue's are
  stateful ``LRScheduler`` objects. ``tpo.<name>`` drives the scheduler on a private one-parameter
  optimizer whose base learning rate is 1, so the learning rate it sets at step t *is* the multiplier;
  values are computed once, in order, and remembered. Length arguments (``T_max``, ``total_steps``,
  ``step_size``...) are filled from the run's ``total_steps`` unless the user sets them.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import inspect
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import torch

from optbench.entries import Entry, Kind, optimizer, schedule
from optbench.errors import OptbenchError, UnknownNameError


class Registry(Protocol):
    """What :func:`add_catalogue` needs of a registry (the registry imports this module lazily, so this
    module names the shape instead of importing it back)."""

    def add(self, entry: Entry) -> None: ...

PREFIX = "tpo."
DISTRIBUTION = "pytorch-optimizer"
#: schedulers whose required arguments are Python callables or other schedulers: not expressible as a spec
UNSUPPORTED_SCHEDULERS = {"multiplicative": "needs lr_lambda, a Python function",
                          "proportion": "wraps another scheduler object"}


class CatalogueNotInstalledError(OptbenchError):
    """A ``tpo.*`` name was asked for but pytorch-optimizer is not installed."""

    def __init__(self, kind: str, name: str):
        super().__init__(f"{kind} {name!r} comes from the pytorch-optimizer catalogue, which is not installed: "
                         "pip install 'optbench[catalogue]' (or pip install pytorch-optimizer)")


def available() -> bool:
    """Whether pytorch-optimizer is importable (checked without importing it)."""
    return importlib.util.find_spec("pytorch_optimizer") is not None


def _code_version() -> str:
    return f"{DISTRIBUTION} {importlib.metadata.version(DISTRIBUTION)}"


def _source() -> str:
    return f"catalogue {_code_version()}"


class CatalogueOptimizer:
    """Factory ``(params, **hparams) -> Optimizer`` for one catalogue class, exposing the class's signature
    (so the runner can reject unknown hyperparameters with a suggestion)."""

    def __init__(self, cls: type[torch.optim.Optimizer]):
        self.cls = cls
        self.__signature__ = inspect.signature(cls)

    def __call__(self, params: Any, **hparams: Any) -> torch.optim.Optimizer:
        return self.cls(params, **hparams)


class SampledSchedule:
    """A stateful LR scheduler seen as a pure function ``step -> multiplier`` (computed in order, cached)."""

    def __init__(self, make: Callable[[torch.optim.Optimizer], Any]):
        self._param = torch.nn.Parameter(torch.zeros(1))
        # momentum so schedulers that cycle momentum (cyclic, one_cycle) find it
        self._optimizer = torch.optim.SGD([self._param], lr=1.0, momentum=0.9)
        self._scheduler = make(self._optimizer)
        self._values: list[float] = []

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about scheduler.step() ordering; there is no training
            while len(self._values) <= step:
                self._values.append(float(self._optimizer.param_groups[0]["lr"]))
                self._optimizer.step()  # no gradient: parameters stay put, but the scheduler sees a step
                self._scheduler.step()
        return self._values[step]


def _length_arguments(total_steps: int) -> dict[str, Any]:
    """Values for the schedulers' run-length arguments, derived from the run's length."""
    t = max(int(total_steps), 1)
    warmup = t // 10
    return {
        "T_max": t, "t_max": t, "total_steps": t, "num_epochs": t, "first_cycle_steps": t,
        "T_0": max(t // 4, 1), "step_size": max(t // 3, 1), "step_size_up": max(t // 4, 1),
        "milestones": [max(t // 3, 1), max(2 * t // 3, 1)],
        "num_warmup_steps": warmup, "num_stable_steps": (t - warmup) // 2,
        "num_decay_steps": t - warmup - (t - warmup) // 2,
        "max_lr": 1.0, "base_lr": 0.1,  # the private optimizer's base lr is 1, so these are multipliers
    }


def _scheduler_factory(name: str, make: Callable[..., Any]) -> Callable[..., SampledSchedule]:
    signature = inspect.signature(make)
    accepts = {p.name for p in list(signature.parameters.values())[1:]
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())

    def factory(total_steps: int, **hparams: Any) -> SampledSchedule:
        lengths = _length_arguments(total_steps)
        if takes_kwargs:  # e.g. poly passes **kwargs on to a base class that wants t_max and max_lr
            lengths = {k: v for k, v in lengths.items() if k in accepts or k in ("t_max", "max_lr")}
        else:
            lengths = {k: v for k, v in lengths.items() if k in accepts}
        kwargs = {**lengths, **hparams}
        return SampledSchedule(lambda opt: make(opt, **kwargs))

    factory.__name__ = f"tpo_{name}"
    factory.__doc__ = f"pytorch-optimizer's {name!r} scheduler sampled as step -> lr multiplier."
    return factory


def _first_line(obj: Any, fallback: str) -> str:
    doc = inspect.getdoc(obj) or ""
    line = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    return line or fallback


@functools.cache
def optimizer_entries() -> tuple[Entry, ...]:
    """Every optimizer of the installed pytorch-optimizer as a ``tpo.<name>`` entry (imports it: slow)."""
    from pytorch_optimizer.optimizer import OPTIMIZERS

    source, version, entries = _source(), _code_version(), []
    for name, cls in sorted(OPTIMIZERS.items()):
        lr_param = inspect.signature(cls).parameters.get("lr")
        lr = lr_param.default if lr_param is not None else None
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
            lr = None
        entry = optimizer(  # no defaults: the class's signature is their one home
            PREFIX + name, CatalogueOptimizer(cls),
            f"{_first_line(cls, cls.__name__)} (pytorch-optimizer {cls.__module__}.{cls.__qualname__})",
            lr_range=(lr / 100, lr * 100) if lr is not None else None,
        )
        entries.append(replace(entry, source=source, code_version=version))
    return tuple(entries)


@functools.cache
def schedule_entries() -> tuple[Entry, ...]:
    """Every expressible LR scheduler of pytorch-optimizer as a ``tpo.<name>`` schedule entry."""
    from pytorch_optimizer.lr_scheduler import LR_SCHEDULERS

    source, version, entries = _source(), _code_version(), []
    for name, make in sorted(LR_SCHEDULERS.items()):
        if name in UNSUPPORTED_SCHEDULERS:
            continue
        entry = schedule(PREFIX + name, _scheduler_factory(name, make),
                         f"{_first_line(make, name)} (pytorch-optimizer scheduler, sampled per step)")
        entries.append(replace(entry, source=source, code_version=version))
    return tuple(entries)


def entries(kind: Kind) -> tuple[Entry, ...]:
    """The catalogue's entries of ``kind`` (there are no catalogue tasks)."""
    if kind == "optimizer":
        return optimizer_entries()
    if kind == "schedule":
        return schedule_entries()
    return ()


def resolve(kind: Kind, name: str) -> Entry | None:
    """The catalogue entry called ``name``; None for a name outside the ``tpo.`` prefix.

    Raises :class:`CatalogueNotInstalledError` when the name is a catalogue name but the extra is missing,
    and :class:`UnknownNameError` (with a suggestion) when the catalogue has no such entry.
    """
    key = name.strip().lower()
    if not key.startswith(PREFIX):
        return None
    if not available():
        raise CatalogueNotInstalledError(kind, name)
    found = {entry.name: entry for entry in entries(kind)}
    if key not in found:
        raise UnknownNameError(kind, name, found)
    return found[key]


def add_catalogue(registry: Registry, kinds: tuple[Kind, ...] = ("optimizer", "schedule")) -> int:
    """Register every catalogue entry of ``kinds`` not yet in ``registry``; returns how many were added.

    Raises :class:`CatalogueNotInstalledError` when pytorch-optimizer is not installed.
    """
    if not available():
        raise CatalogueNotInstalledError("optimizer", PREFIX + "*")
    added = 0
    for kind in kinds:
        for entry in entries(kind):
            if (kind, entry.name) not in registry:
                registry.add(entry)
                added += 1
    return added

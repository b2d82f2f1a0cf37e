"""The task protocol: what the runner needs from a problem to train on it.

A task is a finite sum of ``n_train`` examples (so batch size means something, and the full batch is
``n_train``). It builds a fresh model for a seed, assembles a training batch from example indices,
computes the mean loss of a model on a batch, and optionally reports cheap per-step extras (distance to
the optimum, the 2-D position) and an evaluation on a validation split. A task knows nothing of
optimizers; the runner owns batching order, the clock and the store.
"""

from __future__ import annotations

import abc
import numbers
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from optbench.declaration import TRAIN_LOSS, Direction, Metric, Target, Trace  # noqa: F401 (the task API)
from optbench.divergence import DEFAULT_FACTOR

Batch = Any  # whatever train_batch returns and loss accepts (a tensor, a tuple of tensors, ...)


@dataclass(frozen=True)
class Budget:
    """How long a trial trains: the first limit reached ends it.

    Its numbers are canonical -- ``steps`` an int, ``epochs`` and ``seconds`` floats -- because a trial's id
    hashes them and the store reads them back from float columns: ``epochs=1`` and ``epochs=1.0`` are one
    budget and one trial.
    """

    steps: int | None = None
    epochs: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        # whole-number checks belong to the planner (optbench.plan.check_budget); only the form is fixed here
        for name, kind in (("steps", int), ("epochs", float), ("seconds", float)):
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value) is not kind:
                if kind is float or float(value).is_integer():
                    object.__setattr__(self, name, kind(value))

    def is_empty(self) -> bool:
        return self.steps is None and self.epochs is None and self.seconds is None


@dataclass(frozen=True)
class CriticalPoint:
    """A known critical point of a 2-D surface: where, and what kind."""

    x: float
    y: float
    kind: str  # "minimum", "maximum", "saddle" or "degenerate"


class Task(abc.ABC):
    """One optimisation problem: data (fixed at construction) plus a model family."""

    #: examples in the training set; batch size "full" means this many
    n_train: int
    #: batch size used when the user gives none (an int or "full")
    default_batch_size: int | str = "full"
    #: budget used when the user gives none
    default_budget: Budget = Budget(steps=500)
    #: the metrics ``step_metrics`` and ``evaluate`` report, with their meaning (``train_loss`` is implicit)
    metrics: tuple[Metric, ...] = ()
    #: values recorded for drawing that are not results (never ranked): e.g. the 2-D position
    traces: tuple[Trace, ...] = ()
    #: name of the metric a verdict ranks by (one of ``metrics``, or ``train_loss``)
    headline: str = "train_loss"
    #: evaluations per trial when the user gives no ``eval_every`` (None: once per epoch)
    eval_points: int | None = None
    #: a smoothed training loss held above ``loss₀ + divergence_factor·max(|loss₀|, loss_scale)`` means the
    #: trial diverged; ``loss_scale`` is the loss's typical size, a floor for |loss₀| that a task declares when
    #: its loss can start at or near zero (0: the start is the scale). The rules: :mod:`optbench.divergence`
    divergence_factor: float = DEFAULT_FACTOR
    loss_scale: float = 0.0
    #: evaluation metric whose best value selects the checkpoint to keep (its direction is declared)
    checkpoint_metric: str | None = None
    #: 2-D surfaces set this (see ``surface`` and ``critical_points``)
    is_2d: bool = False
    #: where the task's data came from when that is not in its parameters (e.g. a folder found through an
    #: environment variable); part of every trial's identity, so other data never reuses stored trials
    data_source: str | None = None

    def to(self, device: torch.device) -> Task:
        """Move the task's tensors to ``device``; returns self. Default: nothing to move."""
        return self

    @abc.abstractmethod
    def init_model(self, seed: int) -> nn.Module:
        """A freshly initialised model; the same seed gives the same parameters."""

    @abc.abstractmethod
    def train_batch(self, indices: torch.Tensor) -> Batch:
        """The training examples at ``indices`` (a 1-D long tensor on the task's device).

        A pure function of ``indices``: the runner gathers the full batch once and reuses it."""

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Mean loss of ``model`` over ``batch`` (a scalar tensor with a graph)."""

    def step_metrics(self, model: nn.Module) -> dict[str, float]:
        """Cheap extras recorded every step, outside the clock (e.g. suboptimality, x and y)."""
        return {}

    def evaluate(self, model: nn.Module, final: bool = True) -> dict[str, float]:
        """Validation metrics (e.g. ``val_loss``, ``val_acc``), computed outside the clock under no_grad.

        ``final`` is False for the intermediate evaluations that draw the curves: a task may score a fixed
        subset then, to keep frequent evaluation cheap; the last evaluation of a trial is always final.
        (An ``evaluate(self, model)`` without the argument is called the same way every time.)"""
        return {}

    def target(self) -> Target | None:
        """This configuration's fixed target, or None (reports then fall back to a labelled derived one)."""
        return None

    def declared_metrics(self) -> dict[str, Metric]:
        """Every metric this task reports, by name, ``train_loss`` included."""
        return {TRAIN_LOSS.name: TRAIN_LOSS, **{m.name: m for m in self.metrics}}

    # 2-D surfaces only -------------------------------------------------------------------------
    def surface(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The noise-free loss on a grid (2-D tasks)."""
        raise NotImplementedError(f"{type(self).__name__} is not a 2-D surface")

    def critical_points(self) -> list[CriticalPoint]:
        """Known critical points (2-D tasks)."""
        return []

    def plot_box(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) worth drawing (2-D tasks)."""
        return (-2.0, 2.0, -2.0, 2.0)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None where unknown."""
    try:
        for line in open("/proc/meminfo").read().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(what: str, nbytes: float) -> None:
    """Refuse, with one line, a task size whose tensors would not fit in the memory available now."""
    from optbench.errors import SpecError

    available = available_memory()
    if available is not None and nbytes > 0.8 * available:
        raise SpecError(f"{what} needs about {nbytes / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB "
                        "of memory available here")


class Parameters(nn.Module):
    """A model that is nothing but a parameter vector θ (toy and quadratic tasks); remembers its start θ₀."""

    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta)
        self.register_buffer("theta0", theta.detach().clone())

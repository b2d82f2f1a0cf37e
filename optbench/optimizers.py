"""The builtin optimizers: seven entries backed by ``torch.optim``, described against the lecture.

Each entry's description says which update it performs and, where torch's formula differs from the
lecture notes (``../shared/seeds``), how. The tests in ``tests/test_optimizers.py`` check every one
against an independent reference written from the lecture's formulas over 100+ steps.

Lecture notation: θ parameters, g gradient, η learning rate, σ the per-parameter scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optbench.registry import Entry, optimizer

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def _tuple(value: Any) -> Any:
    # Spec values like betas=0.9/0.98 arrive as lists from JSON round trips; torch wants tuples.
    return tuple(value) if isinstance(value, list) else value


def sgd(params: Params, lr: float = 0.01, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Plain (stochastic) gradient descent: θ ← θ − η g."""
    return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=weight_decay)


def momentum(
    params: Params, lr: float = 0.01, momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """SGD with heavy-ball momentum: m ← β m + g; θ ← θ − η m."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


def adagrad(
    params: Params, lr: float = 0.01, eps: float = 1e-10, initial_accumulator_value: float = 0.0,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Adagrad: σ² accumulates the sum of all past squared gradients."""
    return torch.optim.Adagrad(
        params, lr=lr, eps=eps, initial_accumulator_value=initial_accumulator_value, weight_decay=weight_decay
    )


def rmsprop(
    params: Params, lr: float = 0.001, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """RMSProp: σ² is an exponential moving average of squared gradients with decay α."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay)


def adam(
    params: Params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Adam: RMSProp + momentum with bias correction."""
    return torch.optim.Adam(params, lr=lr, betas=_tuple(betas), eps=eps, weight_decay=weight_decay)


def adamw(
    params: Params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> torch.optim.Optimizer:
    """AdamW: Adam with weight decay applied to the parameters, not added to the gradient."""
    return torch.optim.AdamW(params, lr=lr, betas=_tuple(betas), eps=eps, weight_decay=weight_decay)


def radam(
    params: Params, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """RAdam: Adam with the variance of the adaptive step rectified (SGD+momentum while it is unreliable)."""
    return torch.optim.RAdam(params, lr=lr, betas=_tuple(betas), eps=eps, weight_decay=weight_decay)


BUILTINS: list[Entry] = [
    optimizer(
        "sgd", sgd,
        "Gradient descent θ ← θ − η·g (torch.optim.SGD, momentum 0).",
        {"lr": 0.01}, lr_range=(1e-4, 1.0), aliases=("gd",),
    ),
    optimizer(
        "momentum", momentum,
        "Heavy-ball momentum: m ← β·m + g, θ ← θ − η·m (torch.optim.SGD). The lecture writes "
        "m ← λm − ηg, θ ← θ + m: the same trajectory when η is constant.",
        {"lr": 0.01, "momentum": 0.9}, lr_range=(1e-4, 1.0), aliases=("sgdm", "heavy-ball"),
    ),
    optimizer(
        "adagrad", adagrad,
        "Adagrad: θ ← θ − η·g/(√Σg² + ε) (torch.optim.Adagrad). The lecture's σ is the root MEAN "
        "square √(Σg²/(t+1)); torch uses the root of the SUM, i.e. the lecture's update with "
        "η/√(t+1) decay built in.",
        {"lr": 0.01}, lr_range=(1e-4, 1.0),
    ),
    optimizer(
        "rmsprop", rmsprop,
        "RMSProp: v ← α·v + (1−α)·g², θ ← θ − η·g/(√v + ε) (torch.optim.RMSprop). The lecture starts "
        "σ₀ = |g₀|; torch starts v = 0, so its first steps are larger by up to 1/√(1−α).",
        {"lr": 0.001, "alpha": 0.99}, lr_range=(1e-5, 1e-1),
    ),
    optimizer(
        "adam", adam,
        "Adam = RMSProp + momentum with bias correction: m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), "
        "θ ← θ − η·m̂/(√v̂ + ε) (torch.optim.Adam).",
        {"lr": 0.001, "betas": (0.9, 0.999)}, lr_range=(1e-5, 1e-1),
    ),
    optimizer(
        "adamw", adamw,
        "AdamW: Adam with decoupled weight decay θ ← θ − η·λ·θ (torch.optim.AdamW); the HW2 sample "
        "code's optimizer (lr 1e-4).",
        {"lr": 0.001, "betas": (0.9, 0.999), "weight_decay": 0.01}, lr_range=(1e-5, 1e-1),
    ),
    optimizer(
        "radam", radam,
        "RAdam: Adam whose adaptive step is multiplied by the variance rectification r_t once "
        "ρ_t > 5, and plain bias-corrected momentum before (torch.optim.RAdam).",
        {"lr": 0.001, "betas": (0.9, 0.999)}, lr_range=(1e-5, 1e-1),
    ),
]

"""The builtin optimizers: seven entries backed by ``torch.optim``, described against the lecture.

The torch classes are registered directly, by name (``"torch.optim:Adam"``: imported when first used, so
``optbench list`` does not import torch), so their signatures are the one home of the defaults; an entry's
``defaults`` say only where optbench departs from torch (momentum's β = 0.9, its lr 0.01,
RMSProp's lr 1e-3). Each declares a search space (learning rate on a log scale; β's linear) for
``optbench tune``.

Each entry's description says which update it performs and, where torch's formula differs from the
lecture notes (``../shared/seeds``), how. The tests in ``tests/test_optimizers.py`` check every one
against an independent reference written from the lecture's formulas over 100+ steps.

Lecture notation: θ parameters, g gradient, η learning rate, σ the per-parameter scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optbench.entries import AVERAGING, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, Domain, Entry, Range, optimizer

if TYPE_CHECKING:
    import torch

    Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


def sgd(params: Params, lr: float = 0.01, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Plain (stochastic) gradient descent θ ← θ − η g: ``torch.optim.SGD`` with momentum fixed at 0
    (the one builtin wrapper: it changes behaviour by taking momentum away)."""
    import torch  # here, not at the top: listing the registry imports this module, and must not import torch

    return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=weight_decay)


LR_FAST = Range(1e-4, 1.0)  # optimizers whose step is η·g (or η·g/σ with σ ~ accumulated |g|)
LR_ADAPTIVE = Range(1e-5, 1e-1)  # optimizers whose step is ≈ η per coordinate
BETA1 = Range(0.8, 0.99, "linear", limits=(0.0, 0.999))
BETA2 = Range(0.99, 0.9999, "linear", limits=(0.9, 0.99999))

# the values each hyperparameter may take at all (checked at plan time, before any training): where torch
# checks less (RMSprop takes alpha=2, SGD momentum=2; both then diverge on NaN), these say what the update
# rule means, e.g. an averaging coefficient in [0, 1)
_COMMON: dict[str, Domain] = {"lr": POSITIVE, "weight_decay": NON_NEGATIVE}
_ADAPTIVE: dict[str, Domain] = {**_COMMON, "eps": NON_NEGATIVE}
_ADAM: dict[str, Domain] = {**_ADAPTIVE, "betas.0": AVERAGING, "betas.1": AVERAGING}

BUILTINS: list[Entry] = [
    optimizer(
        "sgd", sgd,
        "Gradient descent θ ← θ − η·g (torch.optim.SGD, momentum 0).",
        search_space={"lr": LR_FAST}, aliases=("gd",), domains=_COMMON,
    ),
    optimizer(
        "momentum", "torch.optim:SGD",
        "Heavy-ball momentum: m ← β·m + g, θ ← θ − η·m (torch.optim.SGD). The lecture writes "
        "m ← λm − ηg, θ ← θ + m: the same trajectory when η is constant.",
        {"lr": 0.01, "momentum": 0.9}, aliases=("sgdm", "heavy-ball"),
        search_space={"lr": LR_FAST, "momentum": Range(0.5, 0.99, "linear", limits=(0.0, 0.999))},
        domains={**_COMMON, "momentum": AVERAGING, "dampening": UNIT_INTERVAL},
    ),
    optimizer(
        "adagrad", "torch.optim:Adagrad",
        "Adagrad: θ ← θ − η·g/(√Σg² + ε) (torch.optim.Adagrad). The lecture's σ is the root MEAN "
        "square √(Σg²/(t+1)); torch uses the root of the SUM, i.e. the lecture's update with "
        "η/√(t+1) decay built in.",
        search_space={"lr": LR_FAST},
        domains={**_ADAPTIVE, "lr_decay": NON_NEGATIVE, "initial_accumulator_value": NON_NEGATIVE},
    ),
    optimizer(
        "rmsprop", "torch.optim:RMSprop",
        "RMSProp: v ← α·v + (1−α)·g², θ ← θ − η·g/(√v + ε) (torch.optim.RMSprop). The lecture starts "
        "σ₀ = |g₀|; torch starts v = 0, so its first steps are larger by up to 1/√(1−α).",
        {"lr": 0.001}, search_space={"lr": LR_ADAPTIVE, "alpha": Range(0.9, 0.999, "linear", limits=(0.5, 0.9999))},
        domains={**_ADAPTIVE, "alpha": AVERAGING, "momentum": AVERAGING},
    ),
    optimizer(
        "adam", "torch.optim:Adam",
        "Adam = RMSProp + momentum with bias correction: m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), "
        "θ ← θ − η·m̂/(√v̂ + ε) (torch.optim.Adam).",
        search_space={"lr": LR_ADAPTIVE, "betas.0": BETA1, "betas.1": BETA2}, domains=_ADAM,
    ),
    optimizer(
        "adamw", "torch.optim:AdamW",
        "AdamW: Adam with decoupled weight decay θ ← θ − η·λ·θ (torch.optim.AdamW); the HW2 sample "
        "code's optimizer (lr 1e-4).",
        search_space={"lr": LR_ADAPTIVE, "betas.0": BETA1, "weight_decay": Range(1e-4, 1e-1)}, domains=_ADAM,
    ),
    optimizer(
        "radam", "torch.optim:RAdam",
        "RAdam: Adam whose adaptive step is multiplied by the variance rectification r_t once "
        "ρ_t > 5, and plain bias-corrected momentum before (torch.optim.RAdam).",
        search_space={"lr": LR_ADAPTIVE, "betas.0": BETA1}, domains=_ADAM,
    ),
]

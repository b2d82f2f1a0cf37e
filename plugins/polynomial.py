"""Example optbench plugin: polynomial learning-rate decay, discovered from ./plugins.

multiplier(t) = min_factor + (1 − min_factor)·(1 − t/T)^power, the "poly" policy of DeepLab
(Chen et al. 2017); power 1 is linear decay, power 2 decays faster early on.
"""

from __future__ import annotations

from collections.abc import Callable

import optbench
from optbench.errors import SpecError


def polynomial(total_steps: int, power: float = 1.0, min_factor: float = 0.0) -> Callable[[int], float]:
    """Factory: the registry calls it with the run's length and the user's hyperparameters."""
    if power <= 0:
        raise SpecError(f"polynomial: power must be > 0, got {power}")
    if not 0 <= min_factor <= 1:
        raise SpecError(f"polynomial: min_factor must be in [0, 1], got {min_factor}")
    length = max(int(total_steps), 1)

    def multiplier(step: int) -> float:
        remaining = max(1.0 - step / length, 0.0)
        return min_factor + (1.0 - min_factor) * remaining**power

    return multiplier


POLYNOMIAL = optbench.schedule(
    "polynomial", polynomial,
    "Polynomial decay (1 − t/T)^power down to min_factor (DeepLab's 'poly' policy).",
    aliases=("poly",),
)

"""When a trial has diverged: what a researcher would call divergence, stated as rules with their bounds.

A trial is ``diverged`` when

1. its training loss is not finite (NaN or ±inf), at that step; or
2. its smoothed training loss (an exponential moving average over about ten steps, so one noisy
   minibatch does not count) rises above ``loss₀ + factor·scale``, at that step; or
3. at the end, the smoothed loss sits above ``loss₀ + scale`` (it ended higher than it started, by more
   than the loss's own size: e.g. momentum at the edge of stability, 3.4 → 15).

``loss₀`` is the first training loss (the loss at the initial parameters), ``scale = max(|loss₀|,
task.loss_scale)`` (the floor keeps a start at exactly zero, like a saddle point, from making every
wobble a divergence) and ``factor`` is the task's ``divergence_factor`` (10 unless it declares one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SMOOTHING = 0.1  # weight of the newest loss in the moving average (≈ 10 steps)


def describe(value: float) -> str:
    return f"{value:.4g}"


@dataclass
class DivergenceMonitor:
    """Feed it every training loss; it says why and when the trial diverged, or None."""

    factor: float = 10.0
    loss_scale: float = 1.0
    start: float | None = None
    smoothed: float = math.nan
    reason: str | None = field(default=None)

    @property
    def scale(self) -> float:
        return max(abs(self.start or 0.0), self.loss_scale)

    def update(self, step: int, loss: float) -> str | None:
        """Record the loss of ``step``; returns the reason when this step diverged."""
        if not math.isfinite(loss):
            self.reason = f"loss {loss} at step {step}"
            return self.reason
        if self.start is None:
            self.start, self.smoothed = loss, loss
        else:
            self.smoothed = (1 - SMOOTHING) * self.smoothed + SMOOTHING * loss
        bound = self.start + self.factor * self.scale
        if self.smoothed > bound:
            self.reason = (f"smoothed loss {describe(self.smoothed)} above {describe(bound)} "
                           f"(start {describe(self.start)} + {self.factor:g}×{describe(self.scale)}) at step {step}")
        return self.reason

    def at_end(self) -> str | None:
        """Rule 3, checked once training has finished without diverging."""
        if self.reason is None and self.start is not None and self.smoothed > self.start + self.scale:
            self.reason = (f"ended above its start: smoothed loss {describe(self.smoothed)} > "
                           f"{describe(self.start)} + {describe(self.scale)}")
        return self.reason

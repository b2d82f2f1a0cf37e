"""When a trial has diverged: the one home of the rule, every bound stated here.

The monitor sees the training (minibatch) loss ℓₜ of every step t = 1, 2, … T; ℓ₁ is the loss at the
initial parameters. It keeps, in O(1) time and memory per step:

- the smoothed loss sₜ, an exponential moving average with weight ``SMOOTHING`` = 0.1 on the newest loss
  (about ten steps), s₁ = ℓ₁;
- the start level: the mean of the first ``START_STEPS`` = 10 losses (one minibatch does not set it);
- the minibatch noise σ², from successive differences (½(ℓₜ − ℓₜ₋₁)² estimates σ² whatever the trend):
  averaged over the first 10 steps, and over about the last 50 (``NOISE_SMOOTHING`` = 0.02);
- the scale: ``max(|ℓ₁|, task.loss_scale)``; a task declares ``loss_scale`` (the typical size of its loss)
  when its loss can start at or near zero: the 2-D surfaces, which may start at a saddle, declare 1, and so
  should a task whose single-minibatch loss can be near zero (batch-1 regression), or a lucky first batch
  sets a scale far below the loss's size. Undeclared (0), the loss's own start is its scale, so a task
  whose loss starts at 1e-3 is watched at 1e-3, not at 1. If both are 0, the scale is 1.

A trial is ``diverged`` when

1. **non-finite**: ℓₜ is NaN or ±inf, at that step;
2. **runaway** (a sustained rise): sₜ stays above ``ℓ₁ + factor·scale`` for ``RUNAWAY_STEPS`` = 3
   consecutive steps, at the third; ``factor`` is the task's ``divergence_factor`` (100 unless it declares
   one). The bound is far above a transient: heavy ball at its optimal lr = 4/(√L+√μ)² and
   β = ((√κ−1)/(√κ+1))² on κ = 1000 peaks at 1–105× its start over seeds 0–39 (smoothed: below 90×) and
   then converges; a single minibatch would have to exceed the bound about 12-fold to hold the average up
   for 3 steps. A blow-up that passes 100× its start at a rate of ×1.1 per step or faster is flagged
   within 10 steps;
3. **ended above its start**, checked once the budget is spent: s_T exceeds the start level by more than
   ``END_MARGIN`` = 10 % of the scale and by more than ``NOISE_Z`` = 4 standard errors of that difference
   (σ²/10 for the start mean plus σ²·0.1/1.9 for the moving average, σ² the larger of the start's and the
   end's estimates), so minibatch noise alone does not count: a flat loss with Gaussian or exponential
   noise (coefficient of variation 0.5 and 1, the scale declared) was flagged in 0 of 3000 runs of 300
   steps each. E.g. momentum at the edge of stability, 3.4 → 15;
4. **growing at the end**, checked once the budget is spent: sₜ rose at every one of the last
   ``max(RISE_MIN_STEPS, RISE_FRACTION·T)`` steps (20 steps, or the last quarter of the run if longer)
   and ends above its lowest value by more than 10 % of the scale (gradient descent just past 2/L, whose
   loss dips then grows every step while still below its start). With minibatch noise the average cannot
   rise 20 steps in a row unless the loss itself trends up.

The steps, factor and margins are the documented defaults; only ``divergence_factor`` and ``loss_scale``
are per task (:class:`optbench.tasks.base.Task`). A diverged trial stops at the step its rule fired (the
last step for rules 3 and 4), with the reason in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SMOOTHING = 0.1  # weight of the newest loss in the moving average (≈ 10 steps)
RUNAWAY_STEPS = 3  # consecutive steps the smoothed loss must stay above the runaway bound
START_STEPS = 10  # losses averaged into the start level
END_MARGIN = 0.1  # rules 3 and 4: a rise must exceed this fraction of the scale
NOISE_Z = 4.0  # rule 3: and this many standard errors of the minibatch noise
NOISE_SMOOTHING = 0.02  # the end's noise: a moving average over about 50 steps
RISE_MIN_STEPS = 20  # rule 4: the shortest final rise that counts
RISE_FRACTION = 0.25  # rule 4: or this fraction of the run, if longer
DEFAULT_FACTOR = 100.0


def describe(value: float) -> str:
    return f"{value:.4g}"


@dataclass
class DivergenceMonitor:
    """Feed it every training loss; it says why and when the trial diverged, or None."""

    factor: float = DEFAULT_FACTOR
    loss_scale: float = 0.0
    start: float | None = None
    smoothed: float = math.nan
    reason: str | None = field(default=None)
    steps: int = 0
    _start_sum: float = 0.0
    _start_noise: float = 0.0  # sum of ½ (ℓₜ − ℓₜ₋₁)² over the start steps
    _noise: float = 0.0  # moving average of ½ (ℓₜ − ℓₜ₋₁)²
    _last: float = math.nan
    _above: int = 0  # consecutive steps above the runaway bound
    _rises: int = 0  # consecutive steps the smoothed loss rose
    _lowest: float = math.inf

    @property
    def scale(self) -> float:
        return max(abs(self.start or 0.0), self.loss_scale) or 1.0

    @property
    def bound(self) -> float:
        return (self.start or 0.0) + self.factor * self.scale

    def update(self, step: int, loss: float) -> str | None:
        """Record the loss of ``step``; returns the reason when this step diverged (rules 1 and 2)."""
        if not math.isfinite(loss):
            self.reason = f"loss {loss} at step {step}"
            return self.reason
        self._track(loss)
        self._above = self._above + 1 if self.smoothed > self.bound else 0
        if self._above >= RUNAWAY_STEPS and self.reason is None:
            self.reason = (f"smoothed loss {describe(self.smoothed)} above {describe(self.bound)} (start "
                           f"{describe(self.start)} + {self.factor:g}×{describe(self.scale)}) for "
                           f"{RUNAWAY_STEPS} steps, at step {step}")
        return self.reason

    def _track(self, loss: float) -> None:
        """The O(1) running state: smoothed loss, start level, noise, rises and the lowest level."""
        self.steps += 1
        if self.start is None:
            self.start, self.smoothed = loss, loss
        else:
            half_sq = 0.5 * (loss - self._last) ** 2
            weight = max(NOISE_SMOOTHING, 1 / (self.steps - 1))  # a plain mean until it has 50 differences
            self._noise += weight * (half_sq - self._noise)
            if self.steps <= START_STEPS:
                self._start_noise += half_sq
            previous, self.smoothed = self.smoothed, (1 - SMOOTHING) * self.smoothed + SMOOTHING * loss
            self._rises = self._rises + 1 if self.smoothed > previous else 0
        if self.steps <= START_STEPS:
            self._start_sum += loss
        self._last, self._lowest = loss, min(self._lowest, self.smoothed)

    def start_level(self) -> float:
        return self._start_sum / min(self.steps, START_STEPS)

    def standard_error(self) -> float:
        """Of s_T − start level, from the minibatch noise at the start and at the end."""
        n = min(self.steps, START_STEPS)
        start_noise = self._start_noise / (n - 1) if n > 1 else 0.0
        noise = max(start_noise, self._noise)  # the larger of the two: ten differences estimate σ² loosely
        return math.sqrt(noise / n + noise * SMOOTHING / (2 - SMOOTHING))

    def at_end(self) -> str | None:
        """Rules 3 and 4, checked once training has finished without diverging."""
        if self.reason is not None or self.start is None:
            return self.reason
        level, margin = self.start_level(), END_MARGIN * self.scale
        allowed = max(margin, NOISE_Z * self.standard_error())
        if self.smoothed > level + allowed:
            self.reason = (f"ended above its start: smoothed loss {describe(self.smoothed)} > start level "
                           f"{describe(level)} + {describe(allowed)} "
                           f"(10% of the scale, or {NOISE_Z:g} standard errors)")
        elif self._rises >= max(RISE_MIN_STEPS, RISE_FRACTION * self.steps) \
                and self.smoothed > self._lowest + margin:
            self.reason = (f"growing at the end: smoothed loss rose every step of the last {self._rises}, "
                           f"{describe(self._lowest)} → {describe(self.smoothed)}")
        return self.reason

"""Learning-rate schedules as functions of the step, and their registry entries.

A schedule is a plain function ``multiplier(step) -> float`` built by a factory from the run's total
number of steps and the schedule's hyperparameters (optax-style: a value, not a stateful object).
The runner sets ``lr = base_lr * multiplier(step)`` on every parameter group before each update, so a
schedule never needs to know which optimizer it drives, and ``plot_schedule`` can draw it.

All lengths (``warmup``, ``step_size``, ``t0``) are in optimizer steps (a ``warmup`` below 1 is a fraction
of the run). The values each hyperparameter may take are its entry's ``domains``, checked before a study
runs. Defaults live in the factories' signatures only. Floors are fractions of the base
learning rate: torch's ``eta_min=1e-6`` with ``lr=1e-4`` is ``min_factor=0.01`` here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from optbench.entries import NON_NEGATIVE, UNIT_INTERVAL, Domain, Entry, schedule
from optbench.errors import SpecError

Schedule = Callable[[int], float]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


def _warmup_len(warmup: float, total_steps: int) -> int:
    """``warmup`` < 1 is a fraction of the run; otherwise a number of steps."""
    return int(round(warmup * total_steps)) if 0 < warmup < 1 else int(warmup)


def constant(total_steps: int) -> Schedule:
    """The base learning rate throughout."""
    return lambda step: 1.0


def step_decay(total_steps: int, step_size: int = 100, gamma: float = 0.1) -> Schedule:
    """Multiply by ``gamma`` every ``step_size`` steps (torch's StepLR)."""
    return lambda step: gamma ** (step // step_size)


def exponential(total_steps: int, gamma: float = 0.99) -> Schedule:
    """Multiply by ``gamma`` every step (torch's ExponentialLR)."""
    return lambda step: gamma**step


def _cosine(progress: float, min_factor: float) -> float:
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def cosine(total_steps: int, min_factor: float = 0.0) -> Schedule:
    """Half a cosine from 1 down to ``min_factor`` over the run (torch's CosineAnnealingLR)."""
    return lambda step: _cosine(step / max(total_steps, 1), min_factor)


def cosine_restarts(total_steps: int, t0: int = 100, t_mult: int = 2, min_factor: float = 0.0) -> Schedule:
    """Cosine annealing restarted after t0, t0·t_mult, t0·t_mult², ... steps (SGDR;
    torch's CosineAnnealingWarmRestarts). HW2's medium baseline: T_0=10, T_mult=2, eta_min=1e-6."""
    _check(t_mult >= 1 and float(t_mult).is_integer(), f"t_mult must be an integer >= 1, got {t_mult}")

    def multiplier(step: int) -> float:
        start, period = 0, t0
        while step >= start + period:
            start, period = start + period, period * int(t_mult)
        return _cosine((step - start) / period, min_factor)

    return multiplier


def warmup_linear(total_steps: int, warmup: float = 0.1, min_factor: float = 0.0) -> Schedule:
    """Linear warm-up from 0 to 1 over ``warmup`` steps, then linear decay to ``min_factor``."""
    n = _warmup_len(warmup, total_steps)

    def multiplier(step: int) -> float:
        if step < n:
            return (step + 1) / n
        rest = max(total_steps - n, 1)
        return 1.0 - (1.0 - min_factor) * min((step - n) / rest, 1.0)

    return multiplier


def warmup_cosine(total_steps: int, warmup: float = 0.1, min_factor: float = 0.0) -> Schedule:
    """Linear warm-up over ``warmup`` steps, then half a cosine down to ``min_factor``."""
    n = _warmup_len(warmup, total_steps)
    return lambda step: (step + 1) / n if step < n else _cosine((step - n) / max(total_steps - n, 1), min_factor)


def inverse_sqrt(total_steps: int, warmup: float = 0.1) -> Schedule:
    """The Transformer's schedule (Vaswani et al. 2017): linear warm-up, then ∝ 1/√step,
    normalised to peak at 1 when step = warmup."""
    n = max(_warmup_len(warmup, total_steps), 1)
    return lambda step: min((step + 1) / n, math.sqrt(n / (step + 1)))


#: the values each schedule hyperparameter may take (checked at plan time): a decay factor in (0, 1] (above 1
#: the rate grows without bound: gamma**step overflows mid-run), a floor a fraction of the base rate
DECAY = Domain(0.0, 1.0, low_open=True)
LENGTH = Domain(1.0)

BUILTINS: list[Entry] = [  # defaults live in the functions' signatures above, nowhere else
    schedule("constant", constant, "Constant learning rate.", aliases=("none",)),
    schedule("step", step_decay, "Step decay: × gamma every step_size steps.",
             domains={"step_size": LENGTH, "gamma": DECAY}),
    schedule("exponential", exponential, "Exponential decay: × gamma every step.", aliases=("exp",),
             domains={"gamma": DECAY}),
    schedule("cosine", cosine, "Cosine decay from 1 to min_factor over the run.",
             domains={"min_factor": UNIT_INTERVAL}),
    schedule("cosine-restarts", cosine_restarts,
             "Cosine with warm restarts (SGDR): periods t0, t0·t_mult, ...; floor min_factor.", aliases=("sgdr",),
             domains={"t0": LENGTH, "t_mult": LENGTH, "min_factor": UNIT_INTERVAL}),
    schedule("warmup-linear", warmup_linear,
             "Linear warm-up for `warmup` steps (or fraction of the run if < 1), then linear decay.",
             domains={"warmup": NON_NEGATIVE, "min_factor": UNIT_INTERVAL}),
    schedule("warmup-cosine", warmup_cosine,
             "Linear warm-up for `warmup` steps (or fraction if < 1), then cosine decay (BERT-style).",
             domains={"warmup": NON_NEGATIVE, "min_factor": UNIT_INTERVAL}),
    schedule("inverse-sqrt", inverse_sqrt,
             "Transformer warm-up: linear for `warmup` steps, then ∝ 1/√step (peak 1 at warmup).",
             aliases=("noam", "transformer"), domains={"warmup": NON_NEGATIVE}),
]


def sample_schedule(multiplier: Schedule, total_steps: int) -> list[float]:
    """The multiplier at every step of a run, for tables and plots."""
    return [multiplier(step) for step in range(total_steps)]

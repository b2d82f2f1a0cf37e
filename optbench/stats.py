"""Statistics shared by the report and the tuning protocol: seeds, noise, time-to-target, profiles.

Everything here is a pure function of numbers (numpy arrays or pandas frames), no store or registry:

- :func:`seed_summary` -- median over seeds with the spread (quartiles, min, max, count) per group;
- :func:`bootstrap_median_diff` -- percentile bootstrap interval of ``median(a) - median(b)``;
  :func:`indistinguishable` is true when that interval contains 0 (the difference is within seed noise);
- :func:`compare_to_best` -- per group: median, spread, the winner, and which groups the winner cannot
  be told apart from;
- :func:`time_to_target` -- steps and seconds until a curve first reaches a target (``inf`` if never);
  :func:`derive_target` -- a target from the best result across optimizers, relaxed by a tolerance;
- :func:`performance_profile` and :func:`algoperf_score` -- ρ(τ), the fraction of tasks on which an
  optimizer is within a factor τ of the fastest, and its normalised area from τ=1 to τ_max=4
  (Dahan et al., "Benchmarking Neural Network Training Algorithms", 2023).

Non-finite inputs are treated the same way everywhere: NaN values (failed trials) are dropped from
medians; ``inf`` time-to-target means "never reached" and counts as never within any factor τ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

ArrayLike = Sequence[float] | np.ndarray | pd.Series



def _finite(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[~np.isnan(array)]


def seed_summary(frame: pd.DataFrame, by: str | list[str], value: str) -> pd.DataFrame:
    """Median over seeds of ``value`` per ``by`` group, with quartiles, min, max and the count of numbers.

    NaN (a failed trial's missing number) is left out; ``inf`` is kept (a never-reached target makes
    the median ``inf`` when it is the majority, which is the honest answer).
    """
    keys = [by] if isinstance(by, str) else list(by)
    grouped = frame.groupby(keys, sort=False, dropna=False)[value]
    summary = pd.DataFrame({
        "median": grouped.median(),
        "q25": grouped.quantile(0.25),
        "q75": grouped.quantile(0.75),
        "min": grouped.min(),
        "max": grouped.max(),
        "n": grouped.count(),
    })
    return summary.reset_index()


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval ``[low, high]`` at level ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap_median_diff(a: ArrayLike, b: ArrayLike, n_boot: int = 2000, confidence: float = 0.95,
                          seed: int = 0) -> Interval:
    """Percentile-bootstrap interval of ``median(a) - median(b)``, resampling each sample independently.

    With one number per side there is no noise estimate: the interval collapses to the point difference.
    An empty side gives a NaN interval.
    """
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return Interval(math.nan, math.nan, math.nan, confidence)
    estimate = float(np.median(a) - np.median(b))
    rng = np.random.default_rng(seed)
    # resample all bootstrap replicates at once: (n_boot, n) index matrices
    resampled_a = np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1)
    resampled_b = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf in a replicate is a NaN we drop below
        diffs = resampled_a - resampled_b
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        return Interval(estimate, math.nan, math.nan, confidence)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), confidence)


def indistinguishable(a: ArrayLike, b: ArrayLike, n_boot: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> bool:
    """True when the bootstrap interval of the median difference contains 0 (within seed noise)."""
    interval = bootstrap_median_diff(a, b, n_boot=n_boot, confidence=confidence, seed=seed)
    if math.isnan(interval.low):
        return False
    return interval.contains(0.0)


def compare_to_best(frame: pd.DataFrame, by: str, value: str, maximize: bool = False,
                    n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Seed summary per ``by`` group plus ``rank``, ``is_best`` and ``tied_with_best``.

    The best group has the best median (ties broken by the order groups appear). ``tied_with_best`` is
    true for the best group itself and for every group whose median difference to it has a bootstrap
    interval containing 0 -- "the winner, but within seed noise of these".
    """
    summary = seed_summary(frame, by, value)
    if summary.empty:
        return summary.assign(rank=[], is_best=[], tied_with_best=[])
    order = summary["median"].rank(method="first", ascending=not maximize, na_option="bottom")
    summary["rank"] = order.astype(int)
    best_key = summary.loc[summary["rank"] == 1, by].iloc[0]
    samples = {key: group[value].to_numpy(dtype=float) for key, group in frame.groupby(by, sort=False)}
    # no winner when even the best median is NaN/inf (e.g. nobody reached the target)
    best_has_number = bool(np.isfinite(summary.loc[summary["rank"] == 1, "median"]).all())
    summary["is_best"] = (summary["rank"] == 1) & best_has_number
    summary["tied_with_best"] = [
        bool(best_has_number) and (key == best_key or indistinguishable(samples[key], samples[best_key],
                                                                        n_boot, confidence, seed))
        for key in summary[by]
    ]
    return summary


def time_to_target(steps: ArrayLike, seconds: ArrayLike, values: ArrayLike, target: float,
                   maximize: bool = False) -> tuple[float, float]:
    """(steps, seconds) at the first point where ``values`` reaches ``target``; ``(inf, inf)`` if never.

    A loss reaches the target when ``value <= target``; an accuracy (``maximize``) when ``value >= target``.
    Points must be in step order, as the store writes them.
    """
    values_array = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        reached = values_array >= target if maximize else values_array <= target
    hits = np.flatnonzero(reached)
    if hits.size == 0:
        return math.inf, math.inf
    first = hits[0]
    return float(np.asarray(steps, dtype=float)[first]), float(np.asarray(seconds, dtype=float)[first])


def derive_target(best: float, initial: float, tolerance: float = 0.05, maximize: bool = False) -> float:
    """A reachable target from the best result across optimizers: ``tolerance`` of the way back to start.

    ``best + tolerance * (initial - best)`` for a loss, which works whatever the sign of the loss (toy
    surfaces go negative); for an accuracy the same formula moves down from the best accuracy.
    """
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"tolerance must be in [0, 1], got {tolerance}")
    if maximize and initial > best or not maximize and initial < best:
        initial = best  # the start was already better than any result: the best is the target
    return float(best + tolerance * (initial - best))


def performance_profile(costs: pd.DataFrame, taus: ArrayLike | None = None) -> pd.DataFrame:
    """ρ(τ): for each optimizer (column), the fraction of tasks (rows) where its cost ≤ τ × the best cost.

    ``costs`` holds a time-to-target per task and optimizer (``inf`` or NaN: never reached). A task that
    no optimizer solved counts against everyone. Returns a frame indexed by τ with one column per
    optimizer. Default τ: 200 points from 1 to 4, log-spaced.
    """
    taus_array = np.geomspace(1.0, 4.0, 200) if taus is None else np.asarray(taus, dtype=float)
    ratios = _ratios_to_best(costs)
    n_tasks = max(ratios.shape[0], 1)
    profile = {name: [(ratios[:, j] <= tau).sum() / n_tasks for tau in taus_array]
               for j, name in enumerate(costs.columns)}
    return pd.DataFrame(profile, index=pd.Index(taus_array, name="tau"))


def _ratios_to_best(costs: pd.DataFrame) -> np.ndarray:
    """cost / best cost per task (row); inf where never reached or where no optimizer reached it."""
    matrix = costs.to_numpy(dtype=float, copy=True)
    matrix[np.isnan(matrix)] = np.inf
    if (matrix <= 0).any():
        raise ValueError("costs must be > 0 (use steps or seconds to a target)")
    if matrix.size == 0:
        return matrix
    best = np.where(np.isfinite(matrix), matrix, np.inf).min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = matrix / best[:, None]
    ratios[~np.isfinite(best)] = np.inf
    return ratios


def algoperf_score(costs: pd.DataFrame, tau_max: float = 4.0) -> pd.Series:
    """Area under each optimizer's ρ(τ) from τ=1 to ``tau_max``, divided by ``tau_max - 1`` (in [0, 1]).

    Computed exactly from ``costs`` (tasks × optimizers, as for :func:`performance_profile`): a task
    with ratio r to the best contributes ``max(0, tau_max - r) / (tau_max - 1)`` (ρ is a step function).
    1.0 means fastest on every task; 0 means never within ``tau_max`` of the fastest.
    """
    if tau_max <= 1:
        raise ValueError(f"tau_max must be > 1, got {tau_max}")
    ratios = _ratios_to_best(costs)
    if ratios.size == 0:
        return pd.Series(0.0, index=costs.columns, name="score", dtype=float)
    contribution = np.clip(tau_max - ratios, 0.0, tau_max - 1.0) / (tau_max - 1.0)
    return pd.Series(contribution.mean(axis=0), index=costs.columns, name="score")

"""Statistics the judge (:mod:`optbench.judge`) decides verdicts with: seeds, noise, profiles, aggregates.

Everything here is a pure function of numbers (numpy arrays or pandas frames), no store or registry. The
direction is always an argument (``maximize``): nothing here reads a metric's name.

Comparing two configurations over seeds (the rule every verdict uses, through the judge):

- :func:`compare_seeds` ``(a, b, *, maximize, resolution=0, alpha=0.05, eval_examples=None, proportion=False)``
  returns a :class:`Comparison`: ``leader`` (``"a"``, ``"b"`` or ``None``), ``kind`` (below), ``p_value``,
  ``margin`` (median of the leader minus median of the other, signed so that it is >= 0 in the better
  direction), ``n_a``/``n_b``, ``sampling_se``, and :meth:`Comparison.describe` -- one plain-English clause.
  The kinds, decided in this order:

  ``"no_data"``     one side has no number (all NaN): nothing to compare, no leader;
  ``"tie"``         the medians differ by at most ``resolution`` (two numbers closer than the metric's
                    resolution are the same number): no leader;
  ``"within_sampling_error"``  ``proportion`` metric on ``eval_examples`` examples and the margin is within
                    2 x the binomial SE of the difference, sqrt(p1(1-p1)/n + p2(1-p2)/n) at the medians;
  ``"single_seed"`` one side has one seed: no noise estimate, so no verdict;
  ``"deterministic"`` every seed of each side is the same number (within ``resolution``, >= 2 seeds each):
                    there is no seed noise, the medians are compared exactly and the leader is established;
  ``"significant"`` exact two-sided permutation test over the seed labels gives ``p <= alpha``;
  ``"dominates"``   every seed of the leader beats every seed of the other, but ``p > alpha`` (3 vs 3 seeds:
                    the smallest attainable p is 2/20 = 0.1, so 3 seeds can never be "significant" at 5 %);
  ``"within_noise"`` otherwise.

  Only ``"deterministic"`` and ``"significant"`` establish a winner (:attr:`Comparison.established`).
  The test statistic is the rank sum of side ``a`` (mid-ranks for ties; Mann-Whitney's U up to a constant);
  its null distribution is the exact permutation distribution: all C(n_a + n_b, n_a) relabellings of the
  seeds when that count is at most :data:`EXACT_RELABELLINGS` (20,000: up to 8 + 8 seeds), otherwise
  :data:`MONTE_CARLO_DRAWS` random relabellings from a fixed seed, with p = (1 + hits) / (1 + draws).
  Ranks make the test exact for any distribution, insensitive to one wild seed and well defined with
  ``inf``. The false-winner rate is measured in ``tests/test_stats_errors.py``: 0 % at 3 seeds, 2.6 % at 4, 3.2 %
  at 5 (exact levels 0, 2/70 and 8/252) over 2,000 simulated pairs of identical configurations; the percentile
  bootstrap this replaces called a winner 10.4 % of the time at 3 seeds.
  The sampling SE treats the two proportions as independent; on a *shared* evaluation set they are positively
  correlated, so it overstates the SE of the difference (the paired SE needs per-example outcomes, which the
  store does not keep): "within sampling error" is then a cautious verdict, and the caveat is in the wording.

:func:`seed_summary`: median over seeds with quartiles, min, max and count per group (the figures' bands).

Aggregates across tasks (Agarwal et al., "Deep RL at the Edge of the Statistical Precipice", 2021):

- :func:`iqm` -- interquartile mean, the 25 % trimmed mean of all runs of all tasks pooled;
- :func:`stratified_bootstrap` -- percentile interval of a statistic, resampling seeds *within* each task
  (the set of tasks is fixed), each score set independently;
- :func:`probability_of_improvement` -- P(X > Y) + P(X = Y)/2 per task over all pairs of seeds, averaged
  over tasks.

Decision on rliable: these three are written here instead of depending on the ``rliable`` package. rliable
1.2.0 requires ``arch``, ``absl-py`` and ``seaborn`` (plus scipy, numpy, pandas) for three short formulas;
it takes a runs x tasks matrix, so every task must have the same number of seeds (ours need not, when a
trial failed); and its stratified bootstrap draws indices from numpy's global random state
(``np.random.choice`` in ``StratifiedBootstrap.update_indices``), so its ``random_state`` argument does not
make an interval reproducible. The functions here follow rliable's published definitions (``aggregate_iqm`` is
``scipy.stats.trim_mean(scores, 0.25, axis=None)``; ``probability_of_improvement`` is Mann-Whitney's U over
n_x n_y per task, averaged) and ``tests/test_stats_errors.py`` checks them against those formulas.

:func:`performance_profile` and :func:`algoperf_score` (rho(tau), the fraction of tasks on which an
optimizer is within a factor tau of the fastest, and its normalised area from tau=1 to tau_max=4; Dahan et
al., "Benchmarking Neural Network Training Algorithms", 2023).

Non-finite inputs are treated the same way everywhere: NaN values (failed trials) are dropped before any
median or test; ``inf`` is kept as the extreme value it is -- an ``inf`` time-to-target or cost means "never
reached", worse than any number for a min-direction metric. Medians may be ``inf``; two equal infinite
medians tie (margin 0), an infinite against a finite median gives an ``inf`` margin; rank tests order
``inf`` after every number, and ``inf`` counts as never within any factor tau.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

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


# --- comparing two configurations over seeds -------------------------------------------------------------

EXACT_RELABELLINGS = 20_000  # enumerate every relabelling up to this count (8 + 8 seeds = 12,870)
MONTE_CARLO_DRAWS = 20_000  # random relabellings beyond it; p's Monte-Carlo SE is then <= 0.0016 at p = 0.05
MONTE_CARLO_SEED = 0
SAMPLING_SE_FACTOR = 2.0  # a margin within 2 SE of a finite evaluation set's sampling error is no verdict

Kind = Literal["no_data", "tie", "within_sampling_error", "single_seed", "deterministic", "significant",
               "dominates", "within_noise"]


@dataclass(frozen=True)
class Comparison:
    """The verdict of :func:`compare_seeds` on two samples of seeds ``a`` and ``b`` (see the module docstring)."""

    leader: Literal["a", "b"] | None
    kind: Kind
    p_value: float  # NaN when no test was run
    margin: float  # leader's median minus the other's, >= 0 in the better direction; 0 for a tie
    n_a: int
    n_b: int
    median_a: float
    median_b: float
    sampling_se: float = math.nan  # binomial SE of the difference of two proportions; NaN when not given
    alpha: float = 0.05
    resolution: float = 0.0
    method: str = ""  # the test, in words, e.g. "exact permutation test"
    proportion: bool = False
    eval_examples: int | None = None
    deterministic: bool = False  # both sides have >= 2 seeds, each side's seeds all the same number

    @property
    def established(self) -> bool:
        """Whether the leader may be named the winner: no seed noise, or a significant test."""
        return self.kind in ("deterministic", "significant")

    def describe(self, label_a: str = "a", label_b: str = "b") -> str:
        """One plain-English clause for a reader, e.g. ``"adam ahead of sgd by 0.0123: beyond seed noise (…)"``."""
        return _describe(self, label_a, label_b)


def compare_seeds(a: ArrayLike, b: ArrayLike, *, maximize: bool, resolution: float = 0.0, alpha: float = 0.05,
                  eval_examples: int | None = None, proportion: bool = False) -> Comparison:
    """Compare the seeds of two configurations: which leads, and whether the seeds can establish it.

    ``a`` and ``b`` are one number per seed (NaN dropped, ``inf`` kept as the worst or best value there is).
    ``resolution``: two numbers closer than this are the same number. ``eval_examples`` and ``proportion``:
    the metric is a proportion (accuracy, error rate) measured on that many examples, so its sampling error
    is part of the verdict. The rule and its order are in the module docstring.
    """
    _check_comparison_args(resolution, alpha, eval_examples)
    x, y = _finite(a), _finite(b)
    if proportion and ((x < 0) | (x > 1)).any() | ((y < 0) | (y > 1)).any():
        raise ValueError("a proportion metric must lie in [0, 1]")
    base = {"n_a": int(x.size), "n_b": int(y.size), "alpha": alpha, "resolution": resolution,
            "proportion": proportion, "eval_examples": eval_examples}
    if x.size == 0 or y.size == 0:
        return Comparison(None, "no_data", math.nan, math.nan, median_a=_median(x), median_b=_median(y), **base)
    med_a, med_b = _median(x), _median(y)
    deterministic = min(x.size, y.size) >= 2 and _constant(x, resolution) and _constant(y, resolution)
    base |= {"median_a": med_a, "median_b": med_b, "deterministic": deterministic,
             "sampling_se": _sampling_se(med_a, med_b, eval_examples, proportion)}
    margin = _signed_difference(med_a, med_b, maximize)
    if abs(margin) <= resolution or math.isnan(margin):
        return Comparison(None, "tie", math.nan, 0.0, **base)
    leader: Literal["a", "b"] = "a" if margin > 0 else "b"
    margin = abs(margin)
    if margin <= SAMPLING_SE_FACTOR * base["sampling_se"]:  # False when the SE is NaN
        return Comparison(leader, "within_sampling_error", math.nan, margin, **base)
    if min(x.size, y.size) < 2:
        return Comparison(leader, "single_seed", math.nan, margin, **base)
    if deterministic:
        return Comparison(leader, "deterministic", math.nan, margin, **base)
    p_value, method = permutation_p_value(x, y)
    if p_value <= alpha:
        kind: Kind = "significant"
    else:
        kind = "dominates" if _dominates(*((x, y) if leader == "a" else (y, x)), maximize) else "within_noise"
    return Comparison(leader, kind, p_value, margin, method=method, **base)


def _check_comparison_args(resolution: float, alpha: float, eval_examples: int | None) -> None:
    if not resolution >= 0:
        raise ValueError(f"resolution must be >= 0, got {resolution}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if eval_examples is not None and (isinstance(eval_examples, bool) or not isinstance(eval_examples, int | np.integer)
                                      or eval_examples < 1):
        raise ValueError(f"eval_examples must be a positive whole number, got {eval_examples!r}")


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan


def _signed_difference(med_a: float, med_b: float, maximize: bool) -> float:
    """``med_a - med_b`` in the better direction (> 0: a is better); equal infinities differ by 0, not NaN."""
    if med_a == med_b:
        return 0.0
    return med_a - med_b if maximize else med_b - med_a


def _sampling_se(p1: float, p2: float, n: int | None, proportion: bool) -> float:
    if not proportion or n is None:
        return math.nan
    return math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)


def _constant(values: np.ndarray, resolution: float) -> bool:
    """Every value the same number, within ``resolution`` (all-equal infinities count as constant)."""
    if (values == values[0]).all():
        return True
    return bool(np.isfinite(values).all() and values.max() - values.min() <= resolution)


def _dominates(lead: np.ndarray, other: np.ndarray, maximize: bool) -> bool:
    """Every seed of ``lead`` strictly better than every seed of ``other``."""
    return bool(lead.min() > other.max()) if maximize else bool(lead.max() < other.min())


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values``, tied values sharing the mean of their ranks; ``inf`` ranks last."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


@functools.lru_cache(maxsize=32)
def _relabellings(n: int, k: int) -> np.ndarray:
    """Every choice of ``k`` of ``n`` positions, one row each (C(n, k) x k)."""
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.intp).reshape(-1, k)


def permutation_p_value(a: ArrayLike, b: ArrayLike) -> tuple[float, str]:
    """Two-sided permutation p-value of the rank sum of ``a`` among ``a`` and ``b``, and the method in words.

    p is the fraction of relabellings of the pooled seeds whose rank sum of ``a`` is at least as far from its
    mean ``n_a (n + 1) / 2`` as the observed one: exact (all relabellings) up to :data:`EXACT_RELABELLINGS`,
    otherwise (1 + hits) / (1 + draws) over :data:`MONTE_CARLO_DRAWS` seeded random relabellings.
    NaN must be dropped first; both sides need at least one value.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n, k = x.size + y.size, x.size
    ranks = midranks(np.concatenate([x, y]))
    centre = k * (n + 1) / 2.0
    observed = abs(ranks[:k].sum() - centre) - 1e-9  # rank sums are multiples of 0.5: the slack is exact
    if math.comb(n, k) <= EXACT_RELABELLINGS:
        sums = ranks[_relabellings(n, k)].sum(axis=1)
        return float(np.mean(np.abs(sums - centre) >= observed)), "exact permutation test"
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    chosen = rng.permuted(np.tile(np.arange(n), (MONTE_CARLO_DRAWS, 1)), axis=1)[:, :k]
    hits = int(np.sum(np.abs(ranks[chosen].sum(axis=1) - centre) >= observed))
    return (1 + hits) / (1 + MONTE_CARLO_DRAWS), f"Monte-Carlo permutation test ({MONTE_CARLO_DRAWS:,} draws)"


def _by(margin: float, suffix: str = "") -> str:
    if math.isinf(margin):
        return "by an infinite margin (the other's median is inf: never reached)"
    return f"by {margin:.3g}{suffix}"


def _p(p_value: float) -> str:
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.2f}" if p_value >= 0.095 else f"p = {p_value:.2g}"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _describe(c: Comparison, label_a: str, label_b: str) -> str:
    if c.kind == "no_data":
        empty = " and ".join(label for label, n in ((label_a, c.n_a), (label_b, c.n_b)) if n == 0)
        return f"nothing to compare: {empty} has no finite result"
    if c.kind == "tie":
        where = (f"equal at the metric's resolution ({c.resolution:.3g})" if c.resolution > 0
                 else f"equal medians ({c.median_a:.4g})")
        same = "deterministic: every seed gives the same value; " if c.deterministic else ""
        return f"{same}{label_a} and {label_b} tie: {where}" + _sampling_note(c)
    lead, other = (label_a, label_b) if c.leader == "a" else (label_b, label_a)
    n_lead, n_other = (c.n_a, c.n_b) if c.leader == "a" else (c.n_b, c.n_a)
    ahead = f"{lead} ahead of {other} {_by(c.margin, ' in median')}"
    seeds = f"{c.n_a}+{c.n_b} seeds"
    if c.kind == "within_sampling_error":
        return (f"{ahead}, within the sampling error of the {c.eval_examples:,}-example evaluation set "
                f"(2 × binomial SE = {SAMPLING_SE_FACTOR * c.sampling_se:.2g}; the set is shared, which this SE "
                "ignores)")
    if c.kind == "single_seed":
        who = " and ".join(label for label, n in ((label_a, c.n_a), (label_b, c.n_b)) if n == 1)
        return f"{ahead}, but {who} {'have' if ' and ' in who else 'has'} one seed: no noise estimate, not a verdict"
    if c.kind == "deterministic":
        return f"deterministic: every seed gives the same value; {lead} better than {other} {_by(c.margin)}" \
            + _sampling_note(c)
    if c.kind == "significant":
        return f"{ahead}, beyond seed noise ({_p(c.p_value)}, {c.method} on {seeds})" + _sampling_note(c)
    if c.kind == "dominates":
        every = f"on all {_seeds(n_lead)}" if n_lead == n_other else f"on every seed ({n_lead} against {n_other})"
        return (f"{lead} ahead of {other} {every}, {_by(c.margin, ' in median')}, but {seeds} cannot establish it at "
                f"{c.alpha * 100:g} % "
                f"({c.method}, {_p(c.p_value)})") + _sampling_note(c)
    return f"{ahead}, within seed noise ({_p(c.p_value)}, {c.method} on {seeds})" + _sampling_note(c)


def _sampling_note(c: Comparison) -> str:
    if not c.proportion:
        return ""
    if c.eval_examples is None:
        return "; the evaluation set's sampling error is not included"
    return (f"; beyond the sampling error of the {c.eval_examples:,}-example evaluation set "
            f"(2 × binomial SE = {SAMPLING_SE_FACTOR * c.sampling_se:.2g})") if c.kind != "tie" else ""


# --- aggregates across tasks (rliable's definitions; see the module docstring for why not rliable) ---------

BOOTSTRAP_DRAWS = 10_000  # resamples per interval: the 2.5 % and 97.5 % quantiles then rest on 250 draws each
TaskScores = Mapping[str, ArrayLike] | Sequence[ArrayLike]


def _task_arrays(scores: TaskScores) -> tuple[list[str], list[np.ndarray]]:
    """Task names and one array per task; 1-D arrays (seeds) have NaN dropped and must keep a number."""
    if isinstance(scores, np.ndarray):  # rliable's runs x tasks matrix would be read as one task per run here
        raise ValueError("pass one array of seeds per task (a list or a mapping), e.g. list(matrix.T) for a "
                         "runs x tasks matrix")
    names = [str(k) for k in scores] if isinstance(scores, Mapping) else [str(i) for i in range(len(scores))]
    values = list(scores.values()) if isinstance(scores, Mapping) else list(scores)
    arrays = []
    for name, value in zip(names, values, strict=True):
        array = np.asarray(value, dtype=float)
        if array.ndim == 1:
            array = _finite(array)[None, :]
        if array.shape[-1] == 0:
            raise ValueError(f"task {name!r} has no finite score")
        arrays.append(array)
    if not arrays:
        raise ValueError("no tasks to aggregate")
    return names, arrays


def _one_or_batch(result: np.ndarray, batched: bool) -> float | np.ndarray:
    return result if batched else float(result[0])


def iqm(scores: TaskScores) -> float | np.ndarray:
    """Interquartile mean of every seed of every task pooled: the mean after cutting ``int(n / 4)`` values at
    each end (rliable's ``aggregate_iqm``, i.e. ``scipy.stats.trim_mean(scores, 0.25, axis=None)``).

    ``scores``: one array of per-seed scores per task (a list, or a mapping task -> scores); seeds per task may
    differ; NaN is dropped. Arrays of shape (batch, seeds), as :func:`stratified_bootstrap` passes, give one
    IQM per batch row. Scores must be comparable across tasks (e.g. normalised).
    """
    _, arrays = _task_arrays(scores)
    pooled = np.sort(np.concatenate(arrays, axis=-1), axis=-1)
    cut = int(0.25 * pooled.shape[-1])
    return _one_or_batch(pooled[:, cut:pooled.shape[-1] - cut].mean(axis=-1), arrays[0].shape[0] > 1)


def probability_of_improvement(x: TaskScores, y: TaskScores, *, maximize: bool = True) -> float | np.ndarray:
    """P(X > Y) + P(X = Y) / 2 over every pair of a seed of X and a seed of Y on the same task, averaged over
    tasks (rliable's ``probability_of_improvement``: Mann-Whitney's U / (n_x n_y) per task).

    ``x`` and ``y`` list the same tasks in the same order (or are mappings with the same keys). With
    ``maximize=False`` "improvement" means a lower value. Batched arrays as for :func:`iqm`.
    """
    names_x, xs = _task_arrays(x)
    names_y, ys = _task_arrays(y)
    if isinstance(x, Mapping) != isinstance(y, Mapping) or (isinstance(x, Mapping) and set(names_x) != set(names_y)):
        raise ValueError("x and y must cover the same tasks")
    if isinstance(y, Mapping):
        ys = [ys[names_y.index(name)] for name in names_x]
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} tasks and y {len(ys)}: they must cover the same tasks")
    per_task = []
    for xt, yt in zip(xs, ys, strict=True):
        left, right = (xt[:, :, None], yt[:, None, :]) if maximize else (yt[:, None, :], xt[:, :, None])
        per_task.append(np.mean(left > right, axis=(1, 2)) + 0.5 * np.mean(left == right, axis=(1, 2)))
    return _one_or_batch(np.mean(per_task, axis=0), max(a.shape[0] for a in xs + ys) > 1)


def stratified_bootstrap(statistic: Callable[..., float | np.ndarray], *score_sets: TaskScores,
                         n_boot: int = BOOTSTRAP_DRAWS, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of ``statistic(*score_sets)``, resampling seeds within each task.

    Each score set (one per algorithm) is one array of seeds per task; every resample draws, for every task of
    every set independently, as many seeds with replacement as that task has, so the set of tasks stays fixed
    (rliable's ``StratifiedBootstrap`` / ``StratifiedIndependentBootstrap`` with ``task_bootstrap=False``).
    ``statistic`` is called once with, per set, a list of (n_boot, seeds) arrays and must return one value per
    row, as :func:`iqm` and :func:`probability_of_improvement` do. Seeded: the same numbers give the same
    interval. A task with one seed contributes no uncertainty.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    point_sets, resampled_sets = [], []
    for scores in score_sets:
        names, arrays = _task_arrays(scores)
        point_sets.append(dict(zip(names, arrays, strict=True)) if isinstance(scores, Mapping) else arrays)
        draws = [a[0, rng.integers(0, a.shape[-1], size=(n_boot, a.shape[-1]))] for a in arrays]
        resampled_sets.append(dict(zip(names, draws, strict=True)) if isinstance(scores, Mapping) else draws)
    estimate = float(np.asarray(statistic(*point_sets)).reshape(-1)[0])
    replicates = np.asarray(statistic(*resampled_sets), dtype=float).reshape(-1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), confidence)


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

"""optbench.stats against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench import stats


def test_seed_summary_median_quartiles_and_nan_dropped():
    frame = pd.DataFrame({"opt": ["a"] * 4 + ["b"] * 3,
                          "loss": [1.0, 2.0, 3.0, 4.0, 10.0, math.nan, 30.0]})
    summary = stats.seed_summary(frame, "opt", "loss").set_index("opt")
    assert summary.loc["a", "median"] == 2.5
    assert summary.loc["a", "q25"] == 1.75 and summary.loc["a", "q75"] == 3.25
    assert summary.loc["a", "min"] == 1.0 and summary.loc["a", "max"] == 4.0
    assert summary.loc["b", "median"] == 20.0 and summary.loc["b", "n"] == 2














def test_performance_profile_and_algoperf_score_by_hand():
    # task t1: a=10, b=20 (ratio 2); task t2: a=30 (ratio 3), b=10; task t3: a=5, b never
    costs = pd.DataFrame({"a": [10.0, 30.0, 5.0], "b": [20.0, 10.0, math.inf]}, index=["t1", "t2", "t3"])
    profile = stats.performance_profile(costs, taus=[1.0, 2.0, 2.5, 3.0, 4.0])
    assert profile["a"].tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    assert profile["b"].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    score = stats.algoperf_score(costs)
    # a: t1 and t3 contribute 1 each, t2 (ratio 3) contributes (4-3)/3
    assert score["a"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    # b: t2 contributes 1, t1 (ratio 2) contributes 2/3, t3 nothing
    assert score["b"] == pytest.approx((1 + 2 / 3) / 3)
    # the exact score equals the integral of the profile on a fine grid
    fine = stats.performance_profile(costs, taus=np.linspace(1, 4, 30001))
    assert np.trapezoid(fine["a"], fine.index) / 3 == pytest.approx(score["a"], abs=1e-3)


def test_performance_profile_rejects_non_positive_costs():
    with pytest.raises(ValueError):
        stats.performance_profile(pd.DataFrame({"a": [0.0]}))








def test_iqm_is_rliables_trimmed_mean_over_all_runs_and_tasks():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for runs, tasks in [(3, 1), (5, 7), (4, 4), (10, 3)]:
        matrix = rng.standard_normal((runs, tasks))
        # rliable: aggregate_iqm(scores) = scipy.stats.trim_mean(scores, proportiontocut=0.25, axis=None)
        assert stats.iqm(list(matrix.T)) == pytest.approx(scipy_stats.trim_mean(matrix, 0.25, axis=None))
    # by hand: 8 pooled values, 2 cut at each end; unequal seeds per task and NaN are fine
    assert stats.iqm({"t1": [1.0, 2.0, 3.0, math.nan], "t2": [4.0, 5.0, 6.0, 7.0, 100.0]}) == pytest.approx(4.5)
    with pytest.raises(ValueError, match="per task"):
        stats.iqm(np.ones((3, 2)))
    with pytest.raises(ValueError, match="no finite score"):
        stats.iqm({"t": [math.nan]})


def test_probability_of_improvement_is_rliables_mann_whitney_average():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 4, (5, 3)).astype(float), rng.integers(0, 4, (4, 3)).astype(float)  # with ties
    expected = np.mean([scipy_stats.mannwhitneyu(x[:, t], y[:, t], alternative="greater").statistic / 20
                        for t in range(3)])
    assert stats.probability_of_improvement(list(x.T), list(y.T)) == pytest.approx(expected)
    # identical scores: 0.5 (rliable's special case); a lower-is-better cost flips the direction
    assert stats.probability_of_improvement([[1.0, 2.0]], [[1.0, 2.0]]) == 0.5
    assert stats.probability_of_improvement({"t": [1.0, 2.0]}, {"t": [3.0, 4.0]}, maximize=False) == 1.0
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement({"t": [1.0]}, {"u": [1.0]})


def test_stratified_bootstrap_resamples_seeds_within_tasks_only():
    # task a always scores 0 and task b always 1: any resample within tasks keeps three of each, so the IQM
    # of every replicate is 0.5; resampling across tasks would move it
    interval = stats.stratified_bootstrap(stats.iqm, {"a": [0.0, 0.0, 0.0], "b": [1.0, 1.0, 1.0]})
    assert (interval.estimate, interval.low, interval.high) == (0.5, 0.5, 0.5)
    # one task, the mean: the percentile interval is close to mean ± 1.96 × the plug-in SE
    values = np.random.default_rng(3).standard_normal(40)
    mean = stats.stratified_bootstrap(lambda tasks: tasks[0].mean(axis=-1), [values], seed=1)
    half = 1.96 * values.std() / math.sqrt(values.size)
    assert mean.low == pytest.approx(values.mean() - half, abs=0.05)
    assert mean.high == pytest.approx(values.mean() + half, abs=0.05)
    assert stats.stratified_bootstrap(lambda tasks: tasks[0].mean(axis=-1), [values], seed=1) == mean


def test_stratified_bootstrap_of_probability_of_improvement_over_two_sets():
    rng = np.random.default_rng(4)
    better = {f"t{i}": 1.0 + rng.standard_normal(5) for i in range(4)}
    worse = {f"t{i}": rng.standard_normal(3) for i in range(4)}
    interval = stats.stratified_bootstrap(lambda x, y: stats.probability_of_improvement(x, y), better, worse)
    assert interval.estimate == pytest.approx(stats.probability_of_improvement(better, worse))
    assert 0.5 < interval.low <= interval.estimate <= interval.high <= 1.0

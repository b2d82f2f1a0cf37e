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


def test_bootstrap_interval_separates_distinct_samples_and_contains_zero_for_overlap():
    far = stats.bootstrap_median_diff([1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.1, 4.9, 5.05, 4.95])
    assert far.estimate == pytest.approx(-4.0)
    assert far.high < 0 and far.low >= -4.2
    assert not stats.indistinguishable([1.0, 1.1, 0.9, 1.05, 0.95], [5.0, 5.1, 4.9, 5.05, 4.95])
    assert stats.indistinguishable([1.0, 2.0, 3.0, 4.0], [1.5, 2.5, 3.5, 2.0])


def test_bootstrap_single_values_collapse_to_point_difference():
    interval = stats.bootstrap_median_diff([3.0], [1.0])
    assert (interval.estimate, interval.low, interval.high) == (2.0, 2.0, 2.0)
    assert math.isnan(stats.bootstrap_median_diff([], [1.0]).estimate)


def test_compare_to_best_marks_winner_and_ties():
    frame = pd.DataFrame({
        "opt": ["sgd"] * 3 + ["adam"] * 3 + ["rms"] * 3,
        "loss": [5.0, 5.2, 4.8, 1.0, 1.2, 0.8, 1.1, 0.9, 1.3],
    })
    result = stats.compare_to_best(frame, "opt", "loss").set_index("opt")
    assert result["is_best"].tolist() == [False, True, False]
    assert result.loc["adam", "rank"] == 1 and result.loc["rms", "rank"] == 2
    assert result.loc["rms", "tied_with_best"] and not result.loc["sgd", "tied_with_best"]
    maximized = stats.compare_to_best(frame, "opt", "loss", maximize=True).set_index("opt")
    assert maximized.loc["sgd", "is_best"]


def test_compare_to_best_has_no_winner_when_nobody_has_a_number():
    frame = pd.DataFrame({"opt": ["a", "b"], "steps": [math.inf, math.inf]})
    assert not stats.compare_to_best(frame, "opt", "steps")["is_best"].any()


def test_time_to_target_first_crossing_or_inf():
    steps, seconds, loss = [0, 1, 2, 3], [0.0, 0.5, 1.0, 1.5], [4.0, 2.0, 0.9, 0.5]
    assert stats.time_to_target(steps, seconds, loss, target=1.0) == (2.0, 1.0)
    assert stats.time_to_target(steps, seconds, loss, target=0.1) == (math.inf, math.inf)
    acc = [0.1, 0.5, 0.7, 0.6]
    assert stats.time_to_target(steps, seconds, acc, target=0.65, maximize=True) == (2.0, 1.0)


def test_derive_target_works_for_negative_losses_and_accuracy():
    assert stats.derive_target(best=-2.0, initial=8.0, tolerance=0.1) == pytest.approx(-1.0)
    assert stats.derive_target(best=0.9, initial=0.1, tolerance=0.5, maximize=True) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        stats.derive_target(1.0, 2.0, tolerance=2.0)


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


def test_rank_groups_shares_ranks_within_the_resolution_and_breaks_ties_by_seeds_then_order():
    frame = pd.DataFrame({
        "opt": ["sgd"] * 3 + ["adam"] * 2 + ["rms"] * 3 + ["lion"] * 2 + ["bad"] * 2,
        "loss": [5.0, 5.2, 4.8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05, math.nan, math.nan],
    })
    table = stats.rank_groups(frame, "opt", "loss", maximize=False, resolution=0.1).set_index("opt")
    # adam and rms have the same exact median; rms has more seeds, so it is the best
    assert table.index.tolist() == ["rms", "adam", "lion", "sgd", "bad"]
    assert table["rank"].tolist() == [1, 1, 1, 4, 5]
    assert table["is_best"].tolist() == [True, False, False, False, False]
    assert table["kind"].tolist() == ["best", "tie", "tie", "dominates", "no_data"]
    assert table.loc["sgd", "margin_to_best"] == pytest.approx(4.0) and not table.loc["sgd", "beaten"]
    assert table.loc["sgd", "comparison"].describe("sgd", "rms").startswith("rms ahead of sgd on all 3 seeds")
    # without a resolution, lion's 1.05 ranks behind and the first-seen of equal groups wins at equal seeds
    exact = stats.rank_groups(frame[frame["opt"] != "rms"], "opt", "loss", maximize=False)
    assert exact["opt"].tolist()[:2] == ["adam", "lion"] and exact["rank"].tolist()[:2] == [1, 2]


def test_rank_groups_names_an_established_winner_and_respects_the_direction():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"opt": ["good"] * 5 + ["poor"] * 5,
                          "acc": np.r_[0.9 + 0.01 * rng.standard_normal(5), 0.5 + 0.01 * rng.standard_normal(5)]})
    table = stats.rank_groups(frame, "opt", "acc", maximize=True).set_index("opt")
    assert table.loc["good", "is_best"] and table.loc["poor", "beaten"]
    assert table.loc["poor", "kind"] == "significant" and table.loc["poor", "p_value"] == pytest.approx(2 / 252)
    flipped = stats.rank_groups(frame, "opt", "acc", maximize=False)
    assert flipped["opt"].iloc[0] == "poor"


def test_rank_groups_has_no_winner_when_nobody_reached_the_target():
    frame = pd.DataFrame({"opt": ["a", "a", "b", "b"], "steps": [math.inf] * 4})
    table = stats.rank_groups(frame, "opt", "steps", maximize=False)
    assert not table["is_best"].any() and table["kind"].tolist() == ["best", "tie"]
    assert stats.rank_groups(frame.iloc[:0], "opt", "steps", maximize=False).empty


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

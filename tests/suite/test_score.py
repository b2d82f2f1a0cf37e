"""The score's pure math: performance ratios, profiles, the exact area, seed spread, and ∞ for never."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from optbench.suite.score import performance_ratios, profile, profile_area, score_table

INF = math.inf


def trials(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["optimizer", "workload", "seed", "steps"])


def test_ratios_are_against_the_fastest_and_infinite_when_never_reached() -> None:
    steps = pd.DataFrame({"w1": [10.0, 20.0], "w2": [20.0, INF]}, index=["a", "b"])
    ratios = performance_ratios(steps)
    assert ratios.loc["a"].tolist() == [1.0, 1.0]
    assert ratios.loc["b", "w1"] == 2.0 and ratios.loc["b", "w2"] == INF


def test_nobody_reaching_a_workload_gives_everyone_infinity() -> None:
    ratios = performance_ratios(pd.DataFrame({"w": [INF, INF]}, index=["a", "b"]))
    assert (ratios["w"] == INF).all()


def test_step_zero_counts_as_one() -> None:
    ratios = performance_ratios(pd.DataFrame({"w": [0.0, 3.0]}, index=["a", "b"]))
    assert ratios["w"].tolist() == [1.0, 3.0]


def test_area_is_exact_for_the_step_profile() -> None:
    ratios = pd.DataFrame({"w1": [1.0, 2.0, 5.0], "w2": [1.0, INF, 1.0]}, index=["a", "b", "c"])
    area = profile_area(ratios, tau_max=4.0)
    assert area["a"] == 1.0
    assert area["b"] == pytest.approx(((4 - 2) / 3 + 0) / 2)
    assert area["c"] == pytest.approx((0 + 1) / 2)
    taus = np.linspace(1, 4, 30001)  # the same area by brute-force integration of ρ(τ)
    rho = profile(ratios, taus)
    numeric = np.trapezoid(rho.to_numpy(), taus, axis=1) / 3
    assert numeric == pytest.approx(area.to_numpy(), abs=1e-3)


def test_tau_max_must_exceed_one() -> None:
    with pytest.raises(ValueError):
        profile_area(pd.DataFrame({"w": [1.0]}), tau_max=1.0)


def test_score_table_ranks_by_median_and_reports_the_seed_spread() -> None:
    table = score_table(trials([
        ("fast", "w1", 1, 10), ("fast", "w1", 2, 12), ("fast", "w1", 3, 11),
        ("fast", "w2", 1, 5), ("fast", "w2", 2, 5), ("fast", "w2", 3, 40),
        ("slow", "w1", 1, 30), ("slow", "w1", 2, 20), ("slow", "w1", 3, INF),  # median 30: ratio 30/11
        ("slow", "w2", 1, INF), ("slow", "w2", 2, INF), ("slow", "w2", 3, 5),  # median ∞
    ]), tau_max=4.0)
    assert table["optimizer"].tolist() == ["fast", "slow"] and table["rank"].tolist() == [1, 2]
    fast, slow = table.iloc[0], table.iloc[1]
    assert fast["score"] == 1.0 and fast["reached"] == 2 and fast["workloads"] == 2
    assert slow["score"] == pytest.approx((4 - 30 / 11) / 3 / 2) and slow["reached"] == 1
    # seed 3 alone: fast needs 40 vs the reference 5 on w2 (ratio 8: 0), slow's seed 3 reaches w2 at 5
    assert fast["score_min"] == pytest.approx(0.5) and fast["score_max"] == 1.0
    # slow's seeds alone: seed 1 reaches w1 only (30/11), seed 2 w1 only (20/11), seed 3 w2 only (ratio 1)
    assert slow["score_min"] == pytest.approx((4 - 30 / 11) / 3 / 2) and slow["score_max"] == pytest.approx(0.5)


def test_an_optimizer_missing_a_workload_scores_it_as_never() -> None:
    table = score_table(trials([("a", "w1", 1, 10), ("a", "w2", 1, 10), ("b", "w1", 1, 10)]))
    assert table.set_index("optimizer").loc["b", "score"] == 0.5

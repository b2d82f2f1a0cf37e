"""optbench.stats.compare_seeds holds its stated error rate, by simulation, and its special cases.

The simulations draw seeds for two configurations from fixed random generators, so every rate below is a
fixed number (no flaky tail); the bounds are what the rule promises, with the Monte-Carlo allowance stated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optbench import stats

PAIRS = 2000  # simulated pairs of configurations per case
ALPHA = 0.05


def _rate(kinds: list[str], kind: str) -> float:
    return sum(k == kind for k in kinds) / len(kinds)


def _simulate(seeds: int, shift: float, rng_seed: int) -> list[str]:
    """Kinds of ``PAIRS`` comparisons of normal samples ``seeds`` vs ``seeds``, ``b`` shifted by ``shift`` SDs."""
    rng = np.random.default_rng(rng_seed)
    draws = rng.standard_normal((PAIRS, 2, seeds))
    draws[:, 1] += shift
    return [stats.compare_seeds(a, b, maximize=False).kind for a, b in draws]


def test_identical_configurations_at_3_seeds_never_get_a_significant_winner():
    kinds = _simulate(seeds=3, shift=0.0, rng_seed=3)
    # the smallest two-sided p of 3 vs 3 seeds is 2/20 = 0.1, so no pair can be called significant at 5 %
    assert _rate(kinds, "significant") == 0.0
    # full separation still happens 2/20 of the time under the null: it is worded "dominates", not a winner
    assert _rate(kinds, "dominates") == pytest.approx(0.1, abs=0.02)
    assert not any(stats.compare_seeds(a, b, maximize=False).established
                   for a, b in np.random.default_rng(4).standard_normal((200, 2, 3)))


def test_identical_configurations_at_5_seeds_hold_the_5_percent_rate():
    kinds = _simulate(seeds=5, shift=0.0, rng_seed=5)
    # the test's exact level: 8 of the 252 relabellings reach p <= 0.05 (3.2 %; measured 3.2 % here). The
    # binomial SE of a rate of 5 % over 2,000 pairs is 0.49 %: the Monte-Carlo allowance is 1 point (2 SE)
    assert _rate(kinds, "significant") <= ALPHA + 0.01
    four = _simulate(seeds=4, shift=0.0, rng_seed=8)  # exact level 2/70 = 2.9 %
    assert _rate(four, "significant") <= ALPHA + 0.01




def test_clearly_different_configurations_at_5_seeds_are_significant_most_of_the_time():
    kinds = _simulate(seeds=5, shift=3.0, rng_seed=6)
    assert _rate(kinds, "significant") >= 0.8  # measured 94.7 % for a shift of 3 standard deviations
    a, b = np.random.default_rng(7).standard_normal((2, 5))
    assert stats.compare_seeds(a, b + 3.0, maximize=False).leader == "a"
    assert stats.compare_seeds(a, b + 3.0, maximize=True).leader == "b"


def test_exact_p_values_by_hand():
    # 3 vs 3 fully separated: 2 of the 20 relabellings are as extreme (two-sided)
    assert stats.permutation_p_value([1, 2, 3], [4, 5, 6]) == (pytest.approx(0.1), "exact permutation test")
    # 5 vs 5 fully separated: 2 of 252
    assert stats.permutation_p_value(range(5), range(5, 10))[0] == pytest.approx(2 / 252)
    # interleaved samples are as central as can be: p = 1
    assert stats.permutation_p_value([1, 4, 5], [2, 3, 6])[0] == 1.0
    # ties get mid-ranks: 1 1 | 1 2 has rank sums {3, 3.5, 4.5, ...}; a = {1, 1} is central-ish
    assert stats.midranks(np.array([1.0, 1.0, 1.0, 2.0])).tolist() == [2.0, 2.0, 2.0, 4.0]


def test_many_seeds_fall_back_to_a_seeded_monte_carlo():
    a, b = np.arange(9.0), np.arange(9.0) + 0.5  # C(18, 9) = 48,620 relabellings > the exact cap
    p_value, method = stats.permutation_p_value(a, b)
    assert "Monte-Carlo" in method and f"{stats.MONTE_CARLO_DRAWS:,}" in method
    assert stats.permutation_p_value(a, b) == (p_value, method)  # seeded: the same every time
    assert 0.5 < p_value <= 1.0
    separated = stats.compare_seeds(np.arange(9.0), np.arange(9.0) + 100, maximize=False)
    assert separated.kind == "significant" and "Monte-Carlo" in separated.describe()


def test_identical_seeds_are_deterministic_and_compared_exactly():
    # rosenbrock-like: every seed starts at the same point, so all three seeds give the same number
    result = stats.compare_seeds([0.0123] * 3, [0.0246] * 3, maximize=False)
    assert (result.kind, result.leader, result.established) == ("deterministic", "a", True)
    assert result.margin == pytest.approx(0.0123) and math.isnan(result.p_value)
    assert result.describe("adam", "sgd") == (
        "deterministic: every seed gives the same value; adam better than sgd by 0.0123")
    assert "noise" not in result.describe()
    # identical to within the resolution counts as identical
    near = stats.compare_seeds([1e-12, 2e-12, 1e-12], [5e-9] * 3, maximize=False, resolution=1e-10)
    assert near.kind == "deterministic" and near.leader == "a"


def test_medians_within_the_resolution_tie():
    tie = stats.compare_seeds([1e-35, 1e-31, 1e-33], [1e-30, 3e-25, 2e-28], maximize=False, resolution=1e-20)
    assert (tie.kind, tie.leader, tie.margin, tie.established) == ("tie", None, 0.0, False)
    assert "tie" in tie.describe() and "1e-20" in tie.describe()
    exact = stats.compare_seeds([2.0, 2.0], [2.0, 2.0], maximize=True)
    assert exact.kind == "tie" and exact.deterministic
    assert exact.describe("x", "y").startswith("deterministic: every seed gives the same value; x and y tie")
    # just above the resolution is not a tie
    assert stats.compare_seeds([0.0] * 3, [3e-20] * 3, maximize=False, resolution=1e-20).kind == "deterministic"


def test_a_small_margin_on_a_finite_evaluation_set_is_within_sampling_error():
    # issue 21: 0.0029 on a shared 1,024-example validation set is no verdict
    a, b = [0.7029, 0.7031, 0.7027], [0.7000, 0.7001, 0.6999]
    result = stats.compare_seeds(a, b, maximize=True, proportion=True, eval_examples=1024)
    assert (result.kind, result.leader, result.established) == ("within_sampling_error", "a", False)
    assert result.sampling_se == pytest.approx(math.sqrt(0.7029 * 0.2971 / 1024 + 0.7 * 0.3 / 1024))
    assert result.margin == pytest.approx(0.0029)
    assert "1,024-example evaluation set" in result.describe() and "shared" in result.describe()
    # the same seeds without the evaluation set's size: the sentence says the sampling error is left out
    plain = stats.compare_seeds(a, b, maximize=True, proportion=True)
    assert plain.kind == "dominates" and "sampling error is not included" in plain.describe()
    # a large margin is beyond sampling error and goes on to the seed test
    far = stats.compare_seeds([0.9, 0.91, 0.92, 0.9, 0.93], [0.5, 0.52, 0.51, 0.5, 0.49], maximize=True,
                              proportion=True, eval_examples=1024)
    assert far.kind == "significant" and "beyond the sampling error" in far.describe()


def test_inf_is_never_reached_and_nan_is_dropped():
    inf = math.inf
    # steps to target (a cost): inf = never reached, the worst value there is
    never = stats.compare_seeds([120.0, 130.0, 125.0], [inf, inf, inf], maximize=False)
    assert never.leader == "a" and never.kind == "dominates" and never.margin == inf
    assert "never reached" in never.describe()
    assert stats.compare_seeds([inf] * 3, [inf] * 3, maximize=False).kind == "tie"
    mixed = stats.compare_seeds([100.0, 110.0, inf, 105.0, 101.0], [inf] * 5, maximize=False)
    assert mixed.leader == "a" and mixed.kind == "significant" and mixed.margin == inf
    # NaN (a failed trial) is dropped before anything else
    dropped = stats.compare_seeds([1.0, math.nan, 1.0], [2.0, 2.0, math.nan], maximize=False)
    assert (dropped.n_a, dropped.n_b, dropped.kind) == (2, 2, "deterministic")
    assert stats.compare_seeds([math.nan], [1.0], maximize=False).kind == "no_data"


def test_one_seed_is_no_verdict():
    result = stats.compare_seeds([0.5], [0.7, 0.8, 0.75], maximize=True)
    assert (result.kind, result.leader, result.established) == ("single_seed", "b", False)
    assert result.describe("p", "q") == ("q ahead of p by 0.25 in median, but p has one seed: no noise estimate, "
                                         "not a verdict")


def test_wording_has_no_degenerate_numbers():
    cases = [([1, 2, 3], [4, 5, 6]), ([1, 1, 1], [2, 2, 2]), ([1, 5, 3], [4, 2, 6]), ([1.0], [2.0]),
             ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), ([math.inf] * 2, [1.0, 2.0])]
    for a, b in cases:
        text = stats.compare_seeds(a, b, maximize=False).describe("x", "y")
        assert "0×" not in text and "1×" not in text and "1 seeds" not in text and "nan" not in text, text


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="alpha"):
        stats.compare_seeds([1, 2], [3, 4], maximize=False, alpha=1.5)
    with pytest.raises(ValueError, match="resolution"):
        stats.compare_seeds([1, 2], [3, 4], maximize=False, resolution=-1)
    with pytest.raises(ValueError, match="eval_examples"):
        stats.compare_seeds([0.1, 0.2], [0.3, 0.4], maximize=True, proportion=True, eval_examples=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.compare_seeds([1.5, 0.2], [0.3, 0.4], maximize=True, proportion=True, eval_examples=10)

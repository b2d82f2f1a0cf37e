"""The lecture's claims on real runs, read back the way a user sees them (store → report data)."""

from __future__ import annotations

import math

import pytest

import optbench
from optbench.report import figures
from optbench.report.data import load_stores


def _tuned_gd_and_heavy_ball(kappa: float) -> str:
    """GD at 2/(L+μ) and heavy ball at its optimal (lr, β) on eigenvalues in [1/κ, 1]."""
    root = math.sqrt(kappa)
    lr_hb, beta = 4 / (1 + 1 / root) ** 2, ((root - 1) / (root + 1)) ** 2
    return f"sgd[lr={2 / (1 + 1 / kappa):.6g}],momentum[lr={lr_hb:.6g},momentum={beta:.6g}]"


@pytest.mark.slow
def test_steps_to_target_grow_10x_per_decade_for_gd_and_sqrt10x_for_heavy_ball(tmp_path) -> None:
    store = tmp_path / "kappa"
    for kappa in (10, 100, 1000):
        optbench.run(f"quadratic[kappa={kappa},noise=0]", _tuned_gd_and_heavy_ball(kappa), seeds="0", steps=3000,
                     threads=1, out=store)
    slopes = figures.kappa_slopes(figures.kappa_table(load_stores([store])))
    # measured 0.99 and 0.55 (28/268/2654 and 13/49/166 steps): theory says 1 and 1/2
    assert slopes[("quadratic", "sgd")] == pytest.approx(1.0, abs=0.1)
    assert slopes[("quadratic", "momentum")] == pytest.approx(0.5, abs=0.1)


def test_gradient_descent_and_momentum_started_exactly_at_the_saddle_stay_only_noise_moves_them(tmp_path) -> None:
    trials = optbench.run("double-well[x0=0,y0=0],double-well[x0=0,y0=0,noise=0.1]", "sgd[lr=0.1],momentum[lr=0.1]",
                          batch_sizes="1", seeds="0", steps=300, threads=1, out=tmp_path / "s")
    noisy = trials["task_label"].str.contains("noise")
    assert (trials.loc[~noisy, "final_dist_to_min"] == 1.0).all()  # still at the origin, a distance 1 from (0, ±1)
    assert (trials.loc[noisy, "final_dist_to_min"] < 0.1).all()  # noise tipped them off the saddle, into a minimum

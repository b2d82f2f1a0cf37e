"""Divergence: the rules of optbench.divergence, and the cases a researcher calls diverged, end to end."""

from __future__ import annotations

import math

import pytest

import optbench
from optbench.divergence import DivergenceMonitor


def test_non_finite_loss_diverges_at_that_step() -> None:
    monitor = DivergenceMonitor()
    assert monitor.update(1, 3.0) is None
    assert "nan at step 2" in monitor.update(2, math.nan)


def test_a_smoothed_rise_past_the_bound_diverges_but_one_noisy_batch_does_not() -> None:
    monitor = DivergenceMonitor(factor=10.0, loss_scale=1.0)
    monitor.update(1, 2.0)
    assert monitor.update(2, 150.0) is None  # one spike: the moving average stays below 2 + 10·2
    monitor = DivergenceMonitor(factor=10.0, loss_scale=1.0)
    for step, loss in enumerate([2.0, 50.0, 80.0, 200.0, 400.0], start=1):
        reason = monitor.update(step, loss)
    assert reason is not None and "above 22" in reason


def test_a_start_at_zero_uses_the_loss_scale_floor() -> None:
    monitor = DivergenceMonitor(factor=10.0, loss_scale=1.0)
    for step in range(1, 50):
        assert monitor.update(step, 1e-3 * step) is None  # wobbling around a zero start is not divergence
    assert monitor.at_end() is None


def test_ending_above_the_start_is_divergence() -> None:
    monitor = DivergenceMonitor()
    for step, loss in enumerate([3.4, 4.0, 6.0, 9.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0, 15.0], start=1):
        assert monitor.update(step, loss) is None
    assert "ended above its start" in monitor.at_end()


@pytest.mark.parametrize("task,optim,steps", [
    ("quadratic[kappa=10,noise=0]", "momentum[lr=3.8]", 300),   # edge of stability: 3.4 → 15, was "completed"
    ("quadratic", "adam[lr=1e6]", 50),                          # 3.6 → 929
    ("rosenbrock", "radam[lr=0.01]", 200),                      # → 2.6e70
])
def test_the_reported_cases_are_diverged_and_excluded(tmp_path, task: str, optim: str, steps: int) -> None:
    trials = optbench.run(task, optim, seeds="0", steps=steps, threads=1, out=tmp_path / "s")
    row = trials.iloc[0]
    assert row.status == "diverged", row.to_dict()
    assert row.diverged_step >= 1 and isinstance(row.diverged_reason, str) and row.diverged_reason


def test_a_converging_run_is_completed(tmp_path) -> None:
    trials = optbench.run("quadratic[kappa=10,noise=0]", "momentum[lr=0.5]", seeds="0", steps=300, threads=1,
                          out=tmp_path / "s")
    assert trials.iloc[0].status == "completed"

"""The quadratic bowl: its construction, and gradient descent's closed-form convergence rates on it."""

from __future__ import annotations

import math

import pytest
import torch

import optbench
from optbench.errors import SpecError
from optbench.tasks.quadratic import Quadratic


def test_spectrum_condition_number_and_optimum() -> None:
    task = Quadratic(dim=10, kappa=1000, n=64, noise=0.5)
    eig = torch.linalg.eigvalsh(task.Q)
    assert float(eig.max() / eig.min()) == pytest.approx(1000, rel=1e-9)
    full = task.centres  # the full batch
    theta = task.theta_star.clone().requires_grad_(True)
    task.loss(type("M", (), {"theta": theta})(), full).backward()
    assert float(theta.grad.norm()) < 1e-10  # θ* is the minimiser of the finite sum
    assert task.evaluate(type("M", (), {"theta": task.theta_star})())["full_loss"] == pytest.approx(task.f_star)


def test_minibatch_gradients_are_unbiased() -> None:
    task = Quadratic(dim=5, kappa=10, n=32, noise=2.0)
    model = task.init_model(0)
    grads = []
    for i in range(task.n_train):
        model.zero_grad()
        task.loss(model, task.train_batch(torch.tensor([i]))).backward()
        grads.append(model.theta.grad.clone())
    model.zero_grad()
    task.loss(model, task.train_batch(torch.arange(task.n_train))).backward()
    torch.testing.assert_close(torch.stack(grads).mean(0), model.theta.grad)


@pytest.mark.parametrize("params", [{"kappa": 0.5}, {"dim": 1}, {"n": 0}, {"noise": -1}])
def test_impossible_values(params: dict) -> None:
    with pytest.raises(SpecError):
        Quadratic(**params)


def _rate(trials, metric: str = "dist_to_opt", start: int = 100, end: int = 300) -> float:
    res = optbench.load(trials.attrs["store"])
    curve = res.metrics[res.metrics.metric == metric].set_index("step")["value"]
    return (curve[end] / curve[start]) ** (1 / (end - start))


def test_gradient_descent_converges_at_the_closed_form_rate(tmp_path) -> None:
    # GD with lr = 2/(L+μ) on eigenvalues in [μ, L] contracts the error by (κ−1)/(κ+1) per step.
    kappa = 100.0
    mu, big_l = 1 / kappa, 1.0
    trials = optbench.run(f"quadratic[kappa={kappa},noise=0]", f"sgd[lr={2 / (big_l + mu)}]",
                          batch_sizes="full", steps=300, out=tmp_path / "gd", seeds="0")
    measured, expected = _rate(trials), (kappa - 1) / (kappa + 1)
    assert measured == pytest.approx(expected, rel=0.02)
    # With only the two extreme eigenvalues (dim=2), both error components contract at exactly that rate.
    trials = optbench.run(f"quadratic[dim=2,kappa={kappa},noise=0]", f"sgd[lr={2 / (big_l + mu)}]",
                          batch_sizes="full", steps=300, out=tmp_path / "gd2", seeds="0")
    assert _rate(trials) == pytest.approx(expected, rel=1e-9)


def test_heavy_ball_converges_at_the_accelerated_rate(tmp_path) -> None:
    kappa = 100.0
    mu, big_l = 1 / kappa, 1.0
    lr = 4 / (math.sqrt(big_l) + math.sqrt(mu)) ** 2
    beta = ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2
    trials = optbench.run(f"quadratic[kappa={kappa},noise=0]", f"momentum[lr={lr},momentum={beta}]",
                          batch_sizes="full", steps=300, out=tmp_path / "hb", seeds="0")
    expected = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
    # Critical damping of the extreme eigenvalues adds a factor linear in t: allow 2% on the per-step rate.
    assert _rate(trials, start=50, end=200) == pytest.approx(expected, rel=0.02)
    assert _rate(trials, start=50, end=200) < (kappa - 1) / (kappa + 1)

"""Each builtin optimizer does what the lecture notes say: trajectories vs independent reference updates."""

from __future__ import annotations

import math

import pytest
import torch

import optbench

STEPS = 150


def _objective(theta: torch.Tensor) -> torch.Tensor:
    # A non-quadratic, badly scaled objective so every coordinate sees different gradients over time.
    scales = torch.tensor([10.0, 1.0, 0.1, 3.0, 0.5], dtype=theta.dtype)
    return (scales * theta**2).sum() + 0.25 * (theta**4).sum() + theta[0] * theta[1]


def _grad(theta: torch.Tensor) -> torch.Tensor:
    theta = theta.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(_objective(theta), theta)
    return g


def _theta0() -> torch.Tensor:
    return torch.tensor([1.0, -2.0, 3.0, 0.5, -1.5], dtype=torch.float64)


def _torch_trajectory(name: str, steps: int = STEPS, **hparams: float) -> list[torch.Tensor]:
    theta = torch.nn.Parameter(_theta0())
    opt = optbench.create_optimizer(name, [theta], **hparams)
    out = [theta.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        _objective(theta).backward()
        opt.step()
        out.append(theta.detach().clone())
    return out


def _reference_trajectory(update, steps: int = STEPS) -> list[torch.Tensor]:
    theta, state, out = _theta0(), {}, [_theta0()]
    for t in range(steps):
        theta = update(theta, _grad(theta), t, state)
        out.append(theta.clone())
    return out


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor], rtol: float = 1e-9, atol: float = 1e-12) -> None:
    assert len(a) == len(b) > 100
    for t, (x, y) in enumerate(zip(a, b, strict=True)):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=f"trajectories differ at step {t}")


def test_sgd_is_plain_gradient_descent() -> None:
    lr = 0.01
    _assert_same(_torch_trajectory("sgd", lr=lr), _reference_trajectory(lambda th, g, t, s: th - lr * g))


def test_momentum_is_the_lectures_movement_update() -> None:
    # Lecture: movement m ← λ·m − η·g ; θ ← θ + m.
    lr, lam = 0.01, 0.9

    def update(theta, g, t, state):
        state["m"] = lam * state.get("m", torch.zeros_like(theta)) - lr * g
        return theta + state["m"]

    _assert_same(_torch_trajectory("momentum", lr=lr, momentum=lam), _reference_trajectory(update))


def test_adagrad_is_lecture_rms_of_all_past_gradients_with_sqrt_t_decay() -> None:
    # Lecture: σᵗ = √(1/(t+1) Σ gᵢ²), θ ← θ − ηᵗ/σᵗ · g. torch (documented) = lecture with ηᵗ = η/√(t+1).
    lr = 0.1

    def update(theta, g, t, state):
        state["sum"] = state.get("sum", torch.zeros_like(theta)) + g**2
        sigma = torch.sqrt(state["sum"] / (t + 1))
        eta_t = lr / math.sqrt(t + 1)
        return theta - eta_t / sigma * g

    _assert_same(_torch_trajectory("adagrad", lr=lr, eps=0.0), _reference_trajectory(update), rtol=1e-8)


def test_rmsprop_is_exponential_average_with_alpha() -> None:
    # Lecture: σᵗ = √(α(σᵗ⁻¹)² + (1−α)(gᵗ)²); torch starts the average at 0 (documented).
    lr, alpha = 0.01, 0.9

    def update(theta, g, t, state):
        state["v"] = alpha * state.get("v", torch.zeros_like(theta)) + (1 - alpha) * g**2
        return theta - lr * g / torch.sqrt(state["v"])

    _assert_same(_torch_trajectory("rmsprop", lr=lr, alpha=alpha, eps=0.0), _reference_trajectory(update))


def test_rmsprop_first_step_differs_from_lecture_as_documented() -> None:
    # The lecture's σ⁰ = |g⁰| gives a first step of η·sign(g); torch's v = 0 start gives η/√(1−α)·sign(g).
    lr, alpha = 0.01, 0.99
    first = _torch_trajectory("rmsprop", steps=1, lr=lr, alpha=alpha, eps=0.0)
    step = (first[1] - first[0]).abs()
    torch.testing.assert_close(step, torch.full_like(step, lr / math.sqrt(1 - alpha)))
    entry = optbench.load_registry().get("optimizer", "rmsprop")
    assert "torch starts v = 0" in entry.description


def test_adam_is_rmsprop_plus_momentum_with_bias_correction() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8

    def update(theta, g, t, state):
        state["m"] = b1 * state.get("m", torch.zeros_like(theta)) + (1 - b1) * g
        state["v"] = b2 * state.get("v", torch.zeros_like(theta)) + (1 - b2) * g**2
        m_hat = state["m"] / (1 - b1 ** (t + 1))
        v_hat = state["v"] / (1 - b2 ** (t + 1))
        return theta - lr * m_hat / (torch.sqrt(v_hat) + eps)

    _assert_same(_torch_trajectory("adam", lr=lr), _reference_trajectory(update), rtol=1e-7, atol=1e-10)


def test_radam_rectifies_the_adaptive_step() -> None:
    # Liu et al. 2020: ρ∞ = 2/(1−β₂) − 1, ρₜ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ); when ρₜ > 5 the adaptive step is scaled by
    # rₜ = √((ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρₜ)); before that, un-adapted bias-corrected momentum.
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    rho_inf = 2 / (1 - b2) - 1
    rectified_steps = []

    def update(theta, g, t, state):
        step = t + 1
        state["m"] = b1 * state.get("m", torch.zeros_like(theta)) + (1 - b1) * g
        state["v"] = b2 * state.get("v", torch.zeros_like(theta)) + (1 - b2) * g**2
        m_hat = state["m"] / (1 - b1**step)
        rho_t = rho_inf - 2 * step * b2**step / (1 - b2**step)
        if rho_t > 5:
            rectified_steps.append(step)
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            v_hat = state["v"] / (1 - b2**step)
            return theta - lr * r_t * m_hat / (torch.sqrt(v_hat) + eps)
        return theta - lr * m_hat

    reference = _reference_trajectory(update)
    assert rectified_steps[0] == 6 and len(rectified_steps) == STEPS - 5  # the warm-up phase is real
    _assert_same(_torch_trajectory("radam", lr=lr), reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "radam"])
def test_every_builtin_reduces_a_convex_loss(name: str) -> None:
    trajectory = _torch_trajectory(name, steps=300, lr=0.03)
    assert _objective(trajectory[-1]) < 0.5 * _objective(trajectory[0])


def test_builtin_entries_declare_lr_ranges_and_descriptions() -> None:
    for entry in optbench.list_optimizers():
        if entry.source == "builtin":
            assert entry.lr_range and entry.description and "lr" in entry.resolved()

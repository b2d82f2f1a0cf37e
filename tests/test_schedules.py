"""Schedules are functions of the step; each matches its closed form or torch's scheduler."""

from __future__ import annotations

import math

import pytest
import torch

import optbench
from optbench.errors import SpecError
from optbench.schedules import sample_schedule


def _torch_lrs(make_scheduler, steps: int, lr: float = 1.0) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"] / lr)
        opt.step()
        scheduler.step()
    return out


def test_constant() -> None:
    assert set(sample_schedule(optbench.create_schedule("constant", 50), 50)) == {1.0}


def test_step_and_exponential_match_torch() -> None:
    ours = sample_schedule(optbench.create_schedule("step", 100, step_size=30, gamma=0.5), 100)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 30, 0.5), 100)
    assert ours == pytest.approx(theirs)
    ours = sample_schedule(optbench.create_schedule("exponential", 100, gamma=0.97), 100)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.97), 100)
    assert ours == pytest.approx(theirs)


def test_cosine_matches_torch() -> None:
    ours = sample_schedule(optbench.create_schedule("cosine", 120, min_factor=0.1), 120)
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 120, eta_min=0.1), 120)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_cosine_restarts_matches_torch_with_hw2_medium_settings() -> None:
    # HW2 medium baseline: T_0=10, T_mult=2, eta_min=1e-6 with lr=1e-4 → min_factor=0.01.
    lr = 1e-4
    ours = [lr * m for m in sample_schedule(
        optbench.create_schedule("cosine-restarts", 150, t0=10, t_mult=2, min_factor=0.01), 150)]
    theirs = [lr * m for m in _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=1e-6), 150, lr)]
    assert ours == pytest.approx(theirs, rel=1e-9)
    restarts = [s for s in range(1, 150) if ours[s] > ours[s - 1]]
    assert restarts == [10, 30, 70]


def test_warmups_rise_then_decay() -> None:
    for name in ("warmup-linear", "warmup-cosine"):
        values = sample_schedule(optbench.create_schedule(name, 100, warmup=10), 100)
        assert values[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
        assert max(values) == pytest.approx(1.0)
        assert all(a >= b for a, b in zip(values[10:], values[11:], strict=False))
        assert values[-1] < 0.05
    fraction = sample_schedule(optbench.create_schedule("warmup-cosine", 200, warmup=0.25), 200)
    assert fraction.index(max(fraction)) == 49


def test_inverse_sqrt_is_the_transformer_schedule() -> None:
    values = sample_schedule(optbench.create_schedule("inverse-sqrt", 1000, warmup=100), 1000)
    d_model = 512  # Vaswani et al.: d^-0.5 · min(s^-0.5, s · w^-1.5), here normalised to peak 1
    paper = [d_model**-0.5 * min((s + 1) ** -0.5, (s + 1) * 100**-1.5) for s in range(1000)]
    scale = values[99] / paper[99]
    assert values == pytest.approx([p * scale for p in paper])
    assert values[99] == pytest.approx(1.0)


@pytest.mark.parametrize("name,params", [
    ("step", {"step_size": 0}), ("exponential", {"gamma": -1}), ("cosine", {"min_factor": 2}),
    ("cosine-restarts", {"t_mult": 1.5}), ("warmup-linear", {"warmup": -3}),
])
def test_impossible_values_are_user_errors(name: str, params: dict) -> None:
    with pytest.raises(SpecError):
        optbench.create_schedule(name, 100, **params)(0)


def test_all_builtin_schedules_are_finite_and_nonnegative() -> None:
    for entry in optbench.list_schedules():
        for total in (1, 7, 500):
            values = sample_schedule(entry.create(total), total)
            assert all(math.isfinite(v) and v >= 0 for v in values), entry.name

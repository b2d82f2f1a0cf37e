"""2-D surfaces: known critical points really are critical, noise is unbiased, trajectories are recorded."""

from __future__ import annotations

import pytest
import torch

import optbench
from optbench.tasks import toy


@pytest.mark.parametrize("name", ["saddle", "monkey-saddle", "rosenbrock", "himmelblau"])
def test_critical_points_have_zero_gradient(name: str) -> None:
    task = optbench.create_task(name)
    assert task.is_2d and task.critical_points()
    for cp in task.critical_points():
        xy = torch.tensor([cp.x, cp.y], dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(task.surface(xy[0], xy[1]), xy)
        assert float(g.norm()) < 1e-3, (name, cp)
        hessian = torch.autograd.functional.hessian(lambda v: task.surface(v[0], v[1]), xy.detach())
        eig = torch.linalg.eigvalsh(hessian)
        kind = {(True, True): "minimum", (False, False): "maximum"}.get(
            (bool(eig.min() > 1e-6), bool(eig.max() > 1e-6)), "saddle")
        if cp.kind != "degenerate":
            assert kind == cp.kind, (name, cp, eig)


def test_noise_tilts_minibatches_but_not_the_full_batch() -> None:
    task = toy.rosenbrock(noise=1.0, n=16)
    model = task.init_model(0)
    with torch.no_grad():
        full = float(task.loss(model, task.train_batch(torch.arange(16))))
        one = float(task.loss(model, task.train_batch(torch.tensor([3]))))
    assert full == pytest.approx(float(task.surface(*model.theta.detach())))
    assert one != pytest.approx(full)


def test_trajectory_is_recorded_and_gd_at_the_saddle_stays_there(tmp_path) -> None:
    trials = optbench.run("saddle[x0=0,y0=0],saddle", "sgd[lr=0.05]", steps=40, out=tmp_path / "s", seeds="0")
    res = optbench.load(trials.attrs["store"])
    xy = res.metrics[res.metrics.metric.isin(["x", "y"])]
    assert set(xy.groupby("trial_id").size()) == {2 * 41}  # x and y at step 0..40
    stuck = trials[trials.task_label == "saddle[x0=0,y0=0]"].iloc[0]
    moved = trials[trials.task_label == "saddle"].iloc[0]
    assert stuck.final_x == 0.0 and stuck.final_y == 0.0  # zero gradient: plain GD never leaves
    assert abs(moved.final_y) > 10 * 1e-3  # the negative-curvature direction grows
    assert moved.final_full_loss < 0


@pytest.mark.parametrize("n", [1, 2, 7, 64, 65])
@pytest.mark.parametrize("noise", [1e-6, 0.1, 3.7])
def test_noise_tilts_sum_to_exactly_zero_in_any_order(n: int, noise: float) -> None:
    data_seed = 3
    tilts = toy.exact_tilts(n, noise, data_seed)
    assert tilts.shape == (n, 2) and tilts.dtype == torch.float64
    assert (tilts.sum(dim=0) == 0).all() and (tilts.mean(dim=0) == 0).all() and (tilts.cumsum(dim=0)[-1] == 0).all()
    for column in tilts.T.tolist():
        assert sum(column) == 0.0 and sum(sorted(column)) == 0.0 and sum(sorted(column, key=abs)) == 0.0
    if n >= 64:  # still N(0, noise²) draws: the same standard normals, moved by ~2^-20 of the noise
        draws = torch.randn(n, 2, generator=torch.Generator().manual_seed(data_seed), dtype=torch.float64) * noise
        assert torch.allclose(tilts, draws - draws.mean(dim=0), rtol=0, atol=noise * 2**-18)


@pytest.mark.parametrize("task", ["double-well[x0=0,y0=0,noise=0.1]", "saddle[x0=0,y0=0,noise=0.1,n=65]"])
def test_full_batch_runs_started_at_the_saddle_stay_there_exactly_and_minibatches_escape(tmp_path, task: str) -> None:
    trials = optbench.run(task, "sgd[lr=0.1],momentum[lr=0.1]", batch_sizes="full,8", steps=200, seeds="0",
                          threads=1, out=tmp_path / "s")
    full = trials[trials.batch_size == "full"]
    assert len(full) == 2 and (full.final_x == 0.0).all() and (full.final_y == 0.0).all(), full[["final_x", "final_y"]]
    mini = trials[trials.batch_size != "full"]
    assert len(mini) == 2 and (mini.final_y.abs() > 0.1).all(), mini[["final_x", "final_y"]]


def test_a_noise_free_surface_has_no_tilt() -> None:
    assert toy.double_well(noise=0.0, n=5).tilts.eq(0).all()

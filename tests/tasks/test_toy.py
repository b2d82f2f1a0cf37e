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

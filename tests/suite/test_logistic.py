"""The builtin logistic task: Newton finds the training minimum, suboptimality is ≥ 0 and declared."""

from __future__ import annotations

import pytest
import torch

from optbench.errors import SpecError
from optbench.tasks.logistic import Logistic


def test_newton_minimum_is_stationary_and_suboptimality_is_non_negative() -> None:
    task = Logistic(n=128, n_val=32)
    w = task.w_opt.clone().requires_grad_(True)
    design = torch.cat([task.x.double(), torch.ones(len(task.x), 1, dtype=torch.float64)], dim=1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(design @ w, task.y.double())
    (grad,) = torch.autograd.grad(loss, w)
    assert float(grad.detach().norm()) < 1e-10 and float(loss.detach()) == pytest.approx(task.f_star, abs=1e-12)
    for seed in range(3):
        assert task.step_metrics(task.init_model(seed))["suboptimality"] > 0
    target = task.target()
    assert target.metric == "suboptimality" and target.metric in task.declared_metrics()
    assert task.declared_metrics()[target.metric].direction == "min"


def test_bad_sizes_are_user_errors() -> None:
    with pytest.raises(SpecError):
        Logistic(n=0)
    with pytest.raises(SpecError):
        Logistic(label_noise=-1)

"""A small classification task (Gaussian blobs, tanh MLP) and a trained model on it, for the curvature tests."""

from __future__ import annotations

import pytest
import torch
from blobs import Blobs
from torch import nn


@pytest.fixture(scope="module")
def blobs() -> tuple[Blobs, nn.Module]:
    """A partly trained model (100 full-batch SGD steps): a point with both signs of curvature."""
    torch.set_num_threads(1)
    task = Blobs()
    model = task.init_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        task.loss(model, (task.x, task.y)).backward()
        opt.step()
    return task, model

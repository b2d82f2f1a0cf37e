"""Hessian-vector products: optbench's ``Objective.hvp`` against the straight double-backward baseline
(PyHessian's recipe, as benchmarks/curvature_hvp.py measures at the phoneme MLP's full size), here on a
small MLP over random frames so the case takes seconds; group ``HVP`` reads as optbench / baseline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optbench.curvature import Objective, example_indices
from optbench.tasks.base import Task

PRODUCTS = 10
GROUP = f"HVP: MLP 64-128-128-10 (26k parameters), 2048 examples, {PRODUCTS} products"


class RandomFrames(Task):
    """A small classifier on fixed random inputs: the curvature code's workload without any data."""

    def __init__(self, n: int = 4096, features: int = 64, classes: int = 10):
        g = torch.Generator().manual_seed(0)
        self.n_train = n
        self.x = torch.randn(n, features, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def init_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 10))

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch[0]), batch[1])


@pytest.fixture(scope="module")
def setting() -> tuple:
    task = RandomFrames()
    model = task.init_model(0)
    indices = example_indices(task, 2048, seed=0)
    dim = sum(p.numel() for p in model.parameters())
    vectors = torch.randn(PRODUCTS, dim, generator=torch.Generator().manual_seed(1))
    return task, model, indices, vectors


def _double_backward(task: Task, model: nn.Module, indices: torch.Tensor, vectors: torch.Tensor) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(task.loss(model, task.train_batch(indices)), params, create_graph=True)
    for v in vectors:
        pieces = [piece.view_as(p) for piece, p in zip(v.split([p.numel() for p in params]), params, strict=True)]
        torch.autograd.grad(grads, params, pieces, retain_graph=True)


def _optbench(task: Task, model: nn.Module, indices: torch.Tensor, vectors: torch.Tensor) -> None:
    objective = Objective(task, model, indices)  # hvp_method="auto", as the diagnosis uses it
    for v in vectors:
        objective.hvp(v)


@pytest.mark.benchmark(group=GROUP)
def test_double_backward_baseline(benchmark, setting) -> None:
    benchmark.pedantic(_double_backward, args=setting, rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group=GROUP)
def test_optbench_objective_hvp(benchmark, setting) -> None:
    benchmark.pedantic(_optbench, args=setting, rounds=5, warmup_rounds=1)


def test_both_compute_the_same_product(setting) -> None:
    task, model, indices, vectors = setting
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(task.loss(model, task.train_batch(indices)), params, create_graph=True)
    pieces = [piece.view_as(p) for piece, p in zip(vectors[0].split([p.numel() for p in params]), params,
                                                   strict=True)]
    expected = torch.cat([h.reshape(-1) for h in torch.autograd.grad(grads, params, pieces)])
    torch.testing.assert_close(Objective(task, model, indices).hvp(vectors[0]), expected, rtol=1e-4, atol=1e-6)

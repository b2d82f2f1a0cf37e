"""Logistic regression on synthetic Gaussian data: the suite's stochastic convex problem (a builtin task).

n examples x ~ N(0, I_d) labelled y = [x·w* + noise > 0]; the model is one linear layer (weights and bias)
trained with the mean binary cross-entropy, evaluated on a held-out split of the same distribution.
The training objective is convex, and with label noise it has a finite minimiser, which the task finds
once at construction by Newton's method in float64; so it can report, at every step, the training
suboptimality f(w) − f* and declare a convex-optimisation target on it (minibatch noise makes reaching
it a question of step size and averaging, as in the lecture).
"""

from __future__ import annotations

import torch
from torch import nn

from optbench.errors import SpecError
from optbench.tasks.base import Budget, Metric, Target, Task, check_memory

TOLERANCE = 1e-2  # the target: training suboptimality f(w) − f* at most this (nats); tuned adam: ~180 steps
NEWTON_STEPS = 50


def _bce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(logits, y)


def newton_minimum(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-12) -> tuple[torch.Tensor, float]:
    """The minimiser of the mean BCE over ``(x, 1)`` (weights then bias) and its value, in float64."""
    design = torch.cat([x.double(), torch.ones(len(x), 1, dtype=torch.float64)], dim=1)
    target = y.double()
    w = torch.zeros(design.shape[1], dtype=torch.float64)
    for _ in range(NEWTON_STEPS):
        p = torch.sigmoid(design @ w)
        grad = design.T @ (p - target) / len(x)
        hess = (design.T * (p * (1 - p))) @ design / len(x) + ridge * torch.eye(len(w), dtype=torch.float64)
        w = w - torch.linalg.solve(hess, grad)
        if float(grad.norm()) < 1e-13:
            break
    return w, float(_bce(design @ w, target))


class Logistic(Task):
    """Binary logistic regression; reports training suboptimality per step, validation loss and accuracy."""

    default_batch_size = 32
    default_budget = Budget(epochs=5)
    metrics = (Metric("suboptimality", "min", "training suboptimality f(w) − f* (full batch)", "nats", kind="step"),
               Metric("val_loss", "min", "validation loss (binary cross-entropy)", "nats"),
               Metric("val_acc", "max", "validation accuracy"))
    headline = "val_acc"
    checkpoint_metric = "val_acc"
    eval_points = 20

    def __init__(self, dim: int = 10, n: int = 512, n_val: int = 256, label_noise: float = 0.5,
                 data_seed: int = 0):
        if dim < 1 or n < 1 or n_val < 1:
            raise SpecError(f"logistic: dim, n and n_val must be >= 1, got {dim}, {n}, {n_val}")
        if label_noise < 0:
            raise SpecError(f"logistic: label_noise must be >= 0, got {label_noise}")
        check_memory(f"logistic[dim={dim},n={n},n_val={n_val}]", 4.0 * (int(n) + int(n_val)) * (int(dim) + 1))
        self.dim, self.n_train = int(dim), int(n)
        g = torch.Generator().manual_seed(int(data_seed))
        w_star = torch.randn(self.dim, generator=g)
        x = torch.randn(self.n_train + int(n_val), self.dim, generator=g)
        y = ((x @ w_star + label_noise * torch.randn(len(x), generator=g)) > 0).float()
        self.x, self.y = x[: self.n_train], y[: self.n_train]
        self.x_val, self.y_val = x[self.n_train:], y[self.n_train:]
        self.w_opt, self.f_star = newton_minimum(self.x, self.y)

    def to(self, device: torch.device) -> Logistic:
        self.x, self.y, self.x_val, self.y_val = (t.to(device) for t in (self.x, self.y, self.x_val, self.y_val))
        return self

    def init_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)  # nn.Linear draws its initial weights from the global generator
        return nn.Linear(self.dim, 1)

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return _bce(model(x).squeeze(-1), y)

    def step_metrics(self, model: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            full = float(_bce(model(self.x).squeeze(-1).double(), self.y.double()))
        return {"suboptimality": full - self.f_star}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        logits = model(self.x_val).squeeze(-1)
        return {"val_loss": float(_bce(logits, self.y_val)),
                "val_acc": float(((logits > 0).float() == self.y_val).float().mean())}

    def target(self) -> Target:
        return Target("suboptimality", TOLERANCE, f"training suboptimality f(w) − f* ≤ {TOLERANCE:g}")

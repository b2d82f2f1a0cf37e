"""Example optbench plugin: logistic regression on synthetic, linearly separable-ish data, from ./plugins.

n examples x ~ N(0, I_d) labelled y = [x·w* + noise > 0]; the model is one linear layer trained with the
mean binary cross-entropy, evaluated on a held-out split of the same distribution.
"""

from __future__ import annotations

import torch
from torch import nn

import optbench
from optbench.errors import SpecError


class Logistic(optbench.Task):
    """Binary logistic regression; reports validation loss and accuracy."""

    default_batch_size = 32
    default_budget = optbench.Budget(epochs=5)
    metrics = (optbench.Metric("val_loss", "min", "validation loss (binary cross-entropy)"),
               optbench.Metric("val_acc", "max", "validation accuracy"))
    headline = "val_acc"
    checkpoint_metric = "val_acc"

    def __init__(self, dim: int = 10, n: int = 512, n_val: int = 256, label_noise: float = 0.5,
                 data_seed: int = 0):
        if dim < 1 or n < 1 or n_val < 1:
            raise SpecError(f"logistic: dim, n and n_val must be >= 1, got {dim}, {n}, {n_val}")
        self.dim, self.n_train = int(dim), int(n)
        g = torch.Generator().manual_seed(int(data_seed))
        w_star = torch.randn(self.dim, generator=g)
        x = torch.randn(self.n_train + int(n_val), self.dim, generator=g)
        y = ((x @ w_star + label_noise * torch.randn(len(x), generator=g)) > 0).float()
        self.x, self.y = x[: self.n_train], y[: self.n_train]
        self.x_val, self.y_val = x[self.n_train:], y[self.n_train:]

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
        return nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        logits = model(self.x_val).squeeze(-1)
        return {"val_loss": float(nn.functional.binary_cross_entropy_with_logits(logits, self.y_val)),
                "val_acc": float(((logits > 0).float() == self.y_val).float().mean())}


LOGISTIC = optbench.task(
    "logistic", Logistic,
    "Logistic regression on synthetic Gaussian data (one linear layer, BCE); reports val_loss and val_acc.",
)

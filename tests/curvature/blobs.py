"""A small classification task for the curvature tests: Gaussian blobs and a tanh MLP whose size is ``hidden``."""

from __future__ import annotations

import torch
from torch import nn

from optbench.tasks.base import Task


class Blobs(Task):
    """Gaussian blobs with a tanh MLP whose parameter count is set by ``hidden`` (float64 throughout)."""

    default_batch_size = 16

    def __init__(self, n: int = 128, features: int = 6, classes: int = 3, hidden: int = 12, data_seed: int = 0):
        g = torch.Generator().manual_seed(data_seed)
        self.n_train, self.features, self.classes, self.hidden = n, features, classes, hidden
        centres = torch.randn(classes, features, generator=g, dtype=torch.float64) * 1.5
        self.y = torch.randint(0, classes, (n,), generator=g)
        self.x = centres[self.y] + torch.randn(n, features, generator=g, dtype=torch.float64)

    def init_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(self.features, self.hidden), nn.Tanh(),
                             nn.Linear(self.hidden, self.classes)).double()

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

"""Example optbench plugin: the Lion optimizer (Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms", arXiv:2302.06675, Algorithm 2), discovered from ./plugins by every optbench command.

    c ← β₁·m + (1−β₁)·g          interpolate momentum and gradient
    θ ← θ − η·(sign(c) + λ·θ)     a sign step: every coordinate moves by exactly η (plus decoupled decay)
    m ← β₂·m + (1−β₂)·g          the momentum itself uses the slower β₂

Because every coordinate moves by ±η, Lion wants a learning rate 3–10× smaller than AdamW's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

import optbench


class Lion(torch.optim.Optimizer):
    """Lion: sign of an interpolated momentum, with decoupled weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue  # parameters without gradients stay put, decay included
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                update = m.mul(beta1).add_(p.grad, alpha=1 - beta1).sign_()
                p.add_(update, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)
        return loss


def lion(params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Factory: the registry calls it with the parameters and the user's hyperparameters."""
    return Lion(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)


LION = optbench.optimizer(
    "lion", lion,
    "Lion (Chen et al. 2023): θ ← θ − η·sign(β₁m + (1−β₁)g), m ← β₂m + (1−β₂)g; use ~1/10 of AdamW's lr.",
    defaults={"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0},
    lr_range=(1e-6, 1e-2),
)

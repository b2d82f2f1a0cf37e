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
from optbench.registry import Range


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


# The class is the factory: the registry calls Lion(params, **hparams), and its signature is the one home of
# the defaults (spec tuples that come back from JSON as lists are turned into tuples by the registry).
LION = optbench.optimizer(
    "lion", Lion,
    "Lion (Chen et al. 2023): θ ← θ − η·sign(β₁m + (1−β₁)g), m ← β₂m + (1−β₂)g; use ~1/10 of AdamW's lr.",
    search_space={"lr": Range(1e-6, 1e-2), "betas.0": Range(0.8, 0.99, "linear", limits=(0.0, 0.999))},
)

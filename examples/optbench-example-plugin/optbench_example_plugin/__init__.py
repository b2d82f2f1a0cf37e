"""optbench-example-plugin: one optimizer, one schedule and one task, exposed through entry points.

- ``adabelief``: AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
  Observed Gradients", arXiv:2010.07468, Algorithm 2): Adam whose second moment tracks (g − m)², the
  gradient's deviation from its prediction, instead of g².
- ``rex``: the REX schedule (Chen, Wolfe & Kyrillidis 2022, "REX: Revisiting Budgeted Training with an
  Improved Schedule", arXiv:2107.04197): z = 1 − t/T, multiplier = z / (½ + ½·z).
- ``least-squares``: min_w ½·mean((Xw − y)²) on synthetic data, a smooth convex finite sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

import optbench
from optbench.errors import SpecError


class AdaBelief(torch.optim.Optimizer):
    """AdaBelief with bias correction and decoupled weight decay."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

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
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    # the step count is a tensor so state_dict() carries it like every other buffer
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_var"] = torch.zeros_like(p)
                state["step"] += 1
                t = int(state["step"])
                m, s = state["exp_avg"], state["exp_avg_var"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                deviation = g - m
                # s_t = β₂ s + (1−β₂)(g − m)² + ε: the paper adds ε inside the running average
                s.mul_(beta2).addcmul_(deviation, deviation, value=1 - beta2).add_(group["eps"])
                p.mul_(1 - group["lr"] * group["weight_decay"])
                step_size = group["lr"] / (1 - beta1**t)
                denom = (s / (1 - beta2**t)).sqrt_().add_(group["eps"])
                p.addcdiv_(m, denom, value=-step_size)
        return loss


def rex(total_steps: int, min_factor: float = 0.0) -> Callable[[int], float]:
    if not 0 <= min_factor <= 1:
        raise SpecError(f"rex: min_factor must be in [0, 1], got {min_factor}")
    length = max(int(total_steps), 1)

    def multiplier(step: int) -> float:
        z = max(1.0 - step / length, 0.0)
        return min_factor + (1.0 - min_factor) * z / (0.5 + 0.5 * z)

    return multiplier


class LeastSquares(optbench.Task):
    """½·mean((x·w + b − y)²) over n synthetic examples; evaluate reports the held-out loss."""

    default_batch_size = 32
    default_budget = optbench.Budget(epochs=10)
    metrics = (optbench.Metric("val_loss", "min", "held-out loss ½·mean((x·w + b − y)²)"),)
    headline = "val_loss"

    def __init__(self, dim: int = 16, n: int = 256, noise: float = 0.1, data_seed: int = 0):
        if dim < 1 or n < 1 or noise < 0:
            raise SpecError(f"least-squares: need dim >= 1, n >= 1, noise >= 0; got {dim}, {n}, {noise}")
        g = torch.Generator().manual_seed(int(data_seed))
        w = torch.randn(dim, generator=g) / math.sqrt(dim)
        x = torch.randn(2 * n, dim, generator=g)
        y = x @ w + noise * torch.randn(2 * n, generator=g)
        self.dim, self.n_train = int(dim), int(n)
        self.x, self.y, self.x_val, self.y_val = x[:n], y[:n], x[n:], y[n:]

    def to(self, device: torch.device) -> LeastSquares:
        self.x, self.y, self.x_val, self.y_val = (t.to(device) for t in (self.x, self.y, self.x_val, self.y_val))
        return self

    def init_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Linear(self.dim, 1)

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return 0.5 * ((model(x).squeeze(-1) - y) ** 2).mean()

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"val_loss": float(self.loss(model, (self.x_val, self.y_val)))}


# Defaults live in the signatures (AdaBelief.__init__, rex, LeastSquares.__init__); entries restate none.
ADABELIEF = optbench.optimizer(
    "adabelief", AdaBelief,
    "AdaBelief (Zhuang et al. 2020): Adam with second moment EMA of (g − m)², the 'belief' in the gradient.",
    lr_range=(1e-5, 1e-1),
)
REX = optbench.schedule(
    "rex", rex, "REX (Chen et al. 2022): z = 1 − t/T, multiplier z / (½ + ½z), optional floor min_factor.",
)
LEAST_SQUARES = optbench.task(
    "least-squares", LeastSquares, "Linear least squares on synthetic Gaussian data; reports val_loss.",
)

"""The convex ill-conditioned quadratic bowl, as a finite sum so batch size has meaning.

Objective: f(θ) = (1/N) Σᵢ ½ (θ − cᵢ)ᵀ Q (θ − cᵢ) with Q = Rᵀ diag(λ) R, R a random rotation and λ
log-spaced from μ = 1/κ to L = 1 (both ends included, so the condition number is exactly κ). The
centres cᵢ = θ* + εᵢ scatter around the optimum θ* with Σᵢ εᵢ = 0, so the full-batch gradient is
exactly Q(θ − θ*): f(θ) − f* = ½ (θ − θ*)ᵀ Q (θ − θ*). A minibatch gradient is unbiased with
covariance set by ``noise``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from optbench.errors import SpecError
from optbench.tasks.base import Metric, Parameters, Target, Task, check_memory

TOLERANCE = 1e-3  # the target: ‖θ−θ*‖ shrunk by this factor from its start


class Quadratic(Task):
    default_batch_size = "full"
    metrics = (
        # float64 resolves θ to ~1e-16 relative: a suboptimality (quadratic in θ − θ*) to ~1e-24 of its
        # start; below these floors two runs have both reached the optimum, whatever the digits say
        Metric("suboptimality", "min", "suboptimality f(θ) − f*", kind="step", resolution=1e-20),
        Metric("dist_to_opt", "min", "distance to the optimum ‖θ − θ*‖", kind="step", resolution=1e-10),
        Metric("rel_dist_to_opt", "min", "relative distance ‖θ − θ*‖ / ‖θ₀ − θ*‖", kind="step", resolution=1e-10),
        Metric("full_loss", "min", "full-batch loss f(θ)"),
    )
    headline = "suboptimality"

    def __init__(self, dim: int = 20, kappa: float = 100.0, n: int = 512, noise: float = 1.0,
                 data_seed: int = 0, dtype: str = "float64"):
        if dim < 2:
            raise SpecError(f"quadratic: dim must be >= 2, got {dim}")
        if kappa < 1:
            raise SpecError(f"quadratic: kappa (condition number) must be >= 1, got {kappa}")
        if n < 1:
            raise SpecError(f"quadratic: n must be >= 1, got {n}")
        if noise < 0:
            raise SpecError(f"quadratic: noise must be >= 0, got {noise}")
        if dtype not in ("float32", "float64"):
            raise SpecError(f"quadratic: dtype must be float32 or float64, got {dtype!r}")
        check_memory(f"quadratic[dim={dim},n={n}]", 8.0 * (3 * dim * dim + 3 * n * dim))
        self.dim, self.kappa, self.n_train, self.noise = int(dim), float(kappa), int(n), float(noise)
        self.dtype = getattr(torch, dtype)
        g = torch.Generator().manual_seed(int(data_seed))
        self.eigenvalues = torch.logspace(-math.log10(self.kappa), 0.0, self.dim, dtype=torch.float64)
        rotation, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=g, dtype=torch.float64))
        self.rotation = rotation
        self.Q = (rotation @ torch.diag(self.eigenvalues) @ rotation.T).to(self.dtype)
        self.theta_star = torch.randn(self.dim, generator=g, dtype=torch.float64).to(self.dtype)
        eps = torch.randn(self.n_train, self.dim, generator=g, dtype=torch.float64) * self.noise
        eps -= eps.mean(dim=0, keepdim=True)
        self.centres = (self.theta_star.double() + eps).to(self.dtype)
        self.f_star = float(0.5 * torch.einsum("nd,de,ne->", eps, self.Q.double(), eps) / self.n_train)

    @property
    def mu(self) -> float:
        return float(self.eigenvalues[0])

    @property
    def L(self) -> float:  # noqa: N802 - the smoothness constant is called L everywhere
        return float(self.eigenvalues[-1])

    def to(self, device: torch.device) -> Quadratic:
        self.Q, self.theta_star, self.centres = (t.to(device) for t in (self.Q, self.theta_star, self.centres))
        return self

    def init_model(self, seed: int) -> nn.Module:
        g = torch.Generator().manual_seed(int(seed))
        theta = torch.randn(self.dim, generator=g, dtype=torch.float64).to(self.dtype)
        return Parameters(theta.to(self.Q.device))

    def train_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return self.centres[indices]

    def loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        diff = model.theta - batch  # (B, d)
        return 0.5 * ((diff @ self.Q) * diff).sum(dim=1).mean()

    def suboptimality(self, theta: torch.Tensor) -> float:
        diff = theta - self.theta_star
        return float(0.5 * diff @ self.Q @ diff)

    def step_metrics(self, model: nn.Module) -> dict[str, float]:
        theta = model.theta.detach()
        dist = float(torch.linalg.vector_norm(theta - self.theta_star))
        start = float(torch.linalg.vector_norm(model.theta0 - self.theta_star))
        return {"suboptimality": self.suboptimality(theta), "dist_to_opt": dist,
                "rel_dist_to_opt": dist / start if start > 0 else 0.0}

    def target(self) -> Target:
        return Target("rel_dist_to_opt", TOLERANCE, f"‖θ−θ*‖/‖θ₀−θ*‖ ≤ {TOLERANCE:g}")

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {"full_loss": self.suboptimality(model.theta.detach()) + self.f_star}

"""Two-dimensional toy surfaces: saddles, Rosenbrock's valley and a surface with several minima.

Each is a finite sum of ``n`` examples fᵢ(x, y) = f(x, y) + aᵢx + bᵢy with (aᵢ, bᵢ) ~ N(0, noise²)
centred so that Σᵢ aᵢ = Σᵢ bᵢ = 0 exactly, in floating point and in any order of addition (see
:func:`exact_tilts`): the full batch sees exactly f, so a full-batch run started at a critical point stays
there exactly, while a minibatch sees f tilted by a random plane (the stochastic-gradient noise of
DeepOBS's 2-D problems). Every surface knows its
critical points, and the runner records the position (x, y) at every step so reports can draw
trajectories on the contours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optbench.errors import SpecError
from optbench.tasks.base import CriticalPoint, Metric, Parameters, Target, Task, Trace, check_memory

TOLERANCE = 1e-3  # the target: within this distance of a minimum
TILT_BITS = 20  # a tilt is a multiple of 2^(⌊log2 noise⌋ − 20): resolved to about a millionth of the noise

Surface = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def exact_tilts(n: int, noise: float, seed: int) -> torch.Tensor:
    """``n`` tilts (aᵢ, bᵢ) ~ N(0, noise²) whose columns sum to exactly 0.0 whatever the order of addition.

    Centring by subtracting the mean leaves a rounding residue (≈1e-19, enough for full-batch gradient
    descent to leave a saddle). Here every tilt is an integer multiple k·h of one power of two
    h = 2^(⌊log2 noise⌋ − TILT_BITS), and the integers k of each column are made to sum to 0 (minus their
    rounded mean, then ±1 on the first few rows for the remainder): every partial sum is then an integer
    times h below 2^53·h, exact in float64 (for n < 2^28), so any reduction order gives exactly 0. Odd and
    even n alike; the draws are the same N(0, 1) numbers as before, moved by at most ~2^-20·noise.
    """
    if noise == 0:
        return torch.zeros(n, 2, dtype=torch.float64)
    draws = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    step = 2.0 ** (math.floor(math.log2(noise)) - TILT_BITS)
    k = torch.round(draws * noise / step).to(torch.int64)
    k -= torch.round(k.double().mean(dim=0)).to(torch.int64)
    for column in range(2):
        remainder = int(k[:, column].sum())  # |remainder| <= n/2 after removing the rounded mean
        k[:abs(remainder), column] -= 1 if remainder > 0 else -1
    return k.double() * step


class Surface2D(Task):
    """A 2-D surface ``f`` with known critical points, a start point and optional gradient noise."""

    is_2d = True
    default_batch_size = "full"
    headline = "full_loss"
    # a start at a critical point has loss 0 (x0=y0=0 on the saddles): the surfaces' values around their
    # critical points are of order 1 (the plotted boxes span about ±1.5), the divergence monitor's floor
    loss_scale = 1.0

    def __init__(self, f: Surface, critical: list[CriticalPoint], box: tuple[float, float, float, float],
                 x0: float, y0: float, init_std: float = 0.0, noise: float = 0.0, n: int = 64,
                 data_seed: int = 0):
        if noise < 0 or init_std < 0:
            raise SpecError(f"noise and init_std must be >= 0, got noise={noise}, init_std={init_std}")
        if n < 1:
            raise SpecError(f"n must be >= 1, got {n}")
        for name, value in (("x0", x0), ("y0", y0)):
            if not math.isfinite(float(value)):
                raise SpecError(f"{name} must be a finite number, got {value}")
        check_memory(f"a 2-D surface with n={n}", 16.0 * n)
        self.f, self.critical, self.box = f, critical, box
        self.minima = torch.tensor([[cp.x, cp.y] for cp in critical if cp.kind == "minimum"], dtype=torch.float64)
        self.traces = (Trace("x", "x"), Trace("y", "y"))  # the position: drawn on the contours, never ranked
        self.metrics = (
            Metric("full_loss", "min", "loss f(x, y) (full batch)", kind="step"),
            *([Metric("dist_to_min", "min", "distance to the nearest minimum", kind="step", resolution=1e-10)]
              if len(self.minima) else []),
        )
        self.start = torch.tensor([float(x0), float(y0)], dtype=torch.float64)
        self.init_std, self.noise, self.n_train = float(init_std), float(noise), int(n)
        self.tilts = exact_tilts(self.n_train, self.noise, int(data_seed))

    def to(self, device: torch.device) -> Surface2D:
        self.start, self.tilts = self.start.to(device), self.tilts.to(device)
        return self

    def init_model(self, seed: int) -> nn.Module:
        g = torch.Generator().manual_seed(int(seed))
        jitter = torch.randn(2, generator=g, dtype=torch.float64) * self.init_std
        return Parameters(self.start + jitter.to(self.start.device))

    def train_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return self.tilts[indices]

    def loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        x, y = model.theta[0], model.theta[1]
        return self.f(x, y) + (batch.mean(dim=0) * model.theta).sum()

    def step_metrics(self, model: nn.Module) -> dict[str, float]:
        theta = model.theta.detach()
        out = {"x": float(theta[0]), "y": float(theta[1]), "full_loss": float(self.f(theta[0], theta[1]))}
        if len(self.minima):
            out["dist_to_min"] = float(torch.linalg.vector_norm(self.minima - theta.cpu(), dim=1).min())
        return out

    def target(self) -> Target | None:
        if not len(self.minima):
            return None  # nothing to reach: the surface is unbounded below
        return Target("dist_to_min", TOLERANCE, f"within {TOLERANCE:g} of a minimum")

    def surface(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.f(x, y)

    def critical_points(self) -> list[CriticalPoint]:
        return list(self.critical)

    def plot_box(self) -> tuple[float, float, float, float]:
        return self.box


def saddle(x0: float = 1.0, y0: float = 1e-3, **kw: Any) -> Surface2D:
    """x² − y²: a saddle at the origin (unbounded below along y)."""
    return Surface2D(lambda x, y: x**2 - y**2, [CriticalPoint(0.0, 0.0, "saddle")],
                     (-1.5, 1.5, -1.5, 1.5), x0, y0, **kw)


def double_well(x0: float = 1.0, y0: float = 1e-3, **kw: Any) -> Surface2D:
    """x²/2 + y⁴/4 − y²/2: a saddle at the origin between two minima (0, ±1); bounded below (−1/4)."""
    return Surface2D(lambda x, y: x**2 / 2 + y**4 / 4 - y**2 / 2,
                     [CriticalPoint(0.0, 0.0, "saddle"), CriticalPoint(0.0, 1.0, "minimum"),
                      CriticalPoint(0.0, -1.0, "minimum")], (-1.5, 1.5, -1.6, 1.6), x0, y0, **kw)


def monkey_saddle(x0: float = 0.8, y0: float = 0.05, **kw: Any) -> Surface2D:
    """x³ − 3xy²: a degenerate saddle (zero Hessian) at the origin, three valleys down."""
    return Surface2D(lambda x, y: x**3 - 3 * x * y**2, [CriticalPoint(0.0, 0.0, "degenerate")],
                     (-1.5, 1.5, -1.5, 1.5), x0, y0, **kw)


def rosenbrock(x0: float = -1.2, y0: float = 1.0, a: float = 1.0, b: float = 100.0, **kw: Any) -> Surface2D:
    """(a − x)² + b(y − x²)²: a curved narrow valley, minimum at (a, a²)."""
    return Surface2D(lambda x, y: (a - x) ** 2 + b * (y - x**2) ** 2, [CriticalPoint(a, a * a, "minimum")],
                     (-2.0, 2.0, -1.0, 3.0), x0, y0, **kw)


# Himmelblau's critical points: 4 minima (value 0), 1 maximum, 4 saddles (to 6 decimals).
_HIMMELBLAU = [
    CriticalPoint(3.0, 2.0, "minimum"), CriticalPoint(-2.805118, 3.131312, "minimum"),
    CriticalPoint(-3.779310, -3.283186, "minimum"), CriticalPoint(3.584428, -1.848126, "minimum"),
    CriticalPoint(-0.270845, -0.923039, "maximum"),
    CriticalPoint(0.086678, 2.884255, "saddle"), CriticalPoint(-3.073026, -0.081353, "saddle"),
    CriticalPoint(3.385154, 0.073852, "saddle"), CriticalPoint(-0.127961, -1.953715, "saddle"),
]


def himmelblau(x0: float = -0.27, y0: float = -0.6, **kw: Any) -> Surface2D:
    """(x² + y − 11)² + (x + y² − 7)²: four minima, a maximum and four saddles."""
    return Surface2D(lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2, _HIMMELBLAU,
                     (-5.0, 5.0, -5.0, 5.0), x0, y0, **kw)

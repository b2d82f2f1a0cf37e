"""The gradient noise scale: McCandlish et al. (2018)'s B_simple = tr(Σ)/|G|² from two batch sizes.

This module owns :class:`NoiseScale`, the finite-population estimator :func:`noise_scale_from_norms`
(unbiased for sampling without replacement) and :func:`noise_scale`, one measurement on a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from optbench.curvature.objective import Objective
from optbench.errors import SpecError
from optbench.tasks.base import Task


@dataclass
class NoiseScale:
    """|G|² and tr(Σ) estimated from gradients at batch sizes ``small`` and ``big``; B_simple = tr(Σ)/|G|²."""

    grad_sq: float
    trace_cov: float
    small: int
    big: int

    @property
    def b_simple(self) -> float:
        return self.trace_cov / self.grad_sq if self.grad_sq > 0 else math.inf


def _expected_excess(b: int, n: int) -> float:
    # E|G_b|² − |G|² = tr(Σ) · c(b) for a without-replacement batch of b out of n examples, with
    # Σ the per-example covariance (1/n normalised); c(b) → 1/b as n → ∞ (McCandlish's formulas)
    return (n - b) / (b * (n - 1)) if n > 1 else 0.0


def noise_scale_from_norms(small_sq: float, big_sq: float, small: int, big: int, n: int | None = None) -> NoiseScale:
    """Solve E|G_b|² = |G|² + c(b) tr(Σ) at b = small, big (c(b) = 1/b for an infinite data set).

    With n = None this is exactly McCandlish et al.'s |G|² ≈ (B|G_B|² − b|G_b|²)/(B − b) and
    tr(Σ) ≈ (|G_b|² − |G_B|²)/(1/b − 1/B); with n it is corrected for sampling without replacement.
    """
    if not 0 < small < big:
        raise SpecError(f"noise scale needs 0 < small < big batch sizes, got small={small}, big={big}")
    c_small = 1 / small if n is None else _expected_excess(small, n)
    c_big = 1 / big if n is None else _expected_excess(big, n)
    trace_cov = (small_sq - big_sq) / (c_small - c_big)
    return NoiseScale(big_sq - c_big * trace_cov, trace_cov, small, big)


def noise_scale(task: Task, model: nn.Module, small: int, chunks: int = 8,
                generator: torch.Generator | None = None) -> NoiseScale:
    """One estimate: ``chunks`` disjoint random batches of ``small`` examples form a batch of ``big``.

    |G_small|² is the mean of the chunk gradients' squared norms and |G_big|² the squared norm of their
    mean, so one call costs ``chunks`` gradients of ``small`` examples (no extra pass for the big batch).
    """
    n = task.n_train
    if chunks < 2 or small < 1 or small * chunks > n:
        raise SpecError(f"noise scale: need chunks >= 2 and 1 <= small, small*chunks <= {n} examples; "
                        f"got small={small}, chunks={chunks}")
    device = next(model.parameters()).device
    indices = torch.randperm(n, generator=generator)[: small * chunks].to(device)
    stacked = Objective(task, model, indices, chunk_size=small).chunk_gradients().double()
    small_sq = float((stacked**2).sum(dim=1).mean())
    big_sq = float((stacked.mean(dim=0) ** 2).sum())
    return noise_scale_from_norms(small_sq, big_sq, small, small * chunks, n)


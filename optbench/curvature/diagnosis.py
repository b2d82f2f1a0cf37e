"""The diagnosis of one point: critical-point verdict, escape direction, sharpness, and what it cost.

This module owns :func:`diagnose` and its result :class:`Diagnosis`: the loss and gradient norm, λ_min
and λ_max (exact or Lanczos), the trace, the fractions of negative and positive eigenvalues, the top-k
eigenpairs and per-tensor λ_max when asked, a verdict with the tolerances used (:func:`classify`), the
escape step along the negative-curvature direction at a saddle (:func:`escape_step`) and Keskar's
ε-sharpness (:func:`epsilon_sharpness`); and :func:`diagnose_extremes`, the cheap mode that estimates only
the extreme eigenvalue(s) asked for (``only=lambda_max``) to a stated tolerance. The linear algebra lives in
:mod:`optbench.curvature.spectrum`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from optbench.curvature.objective import Objective, example_indices
from optbench.curvature.spectrum import (
    SpectralDensity,
    deflated_trace,
    exact_spectrum,
    extreme_eigenvalues,
    group_lambda_max,
    lanczos,
    spectral_density,
)
from optbench.tasks.base import Task


@dataclass
class Escape:
    """The lecture's "θ = θ' + u": a step of size ``step`` along the λ_min eigenvector ``direction``."""

    direction: list[float]
    step: float
    loss_before: float
    loss_after: float
    predicted_change: float  # η gᵀu + ½ η² λ_min, the second-order Taylor model

    @property
    def lowers_loss(self) -> bool:
        return self.loss_after < self.loss_before


@dataclass
class Diagnosis:
    """Everything measured at one point; ``to_dict`` is what ``diagnosis/<trial_id>.json`` holds.

    ``negative_fraction`` / ``positive_fraction``: the fraction of eigenvalues below −eig_tol / above
    eig_tol (the latter is the lecture's "minimum ratio"), exact or from Lanczos quadrature
    (``fraction_method``). ``top_eigenvectors`` (k, d) stays in memory; the JSON holds it only for d ≤ 64.
    """

    loss: float
    grad_norm: float
    lambda_min: float
    lambda_max: float
    verdict: str
    tolerances: dict[str, float]
    method: str
    params: int
    examples: int
    trace: float
    trace_stderr: float
    eps_sharpness: float | None = None
    eigenvalues: list[float] | None = None  # all of them, when computed exactly
    escape: Escape | None = None
    density: SpectralDensity | None = None
    cost: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    negative_fraction: float | None = None
    positive_fraction: float | None = None
    fraction_method: str | None = None
    top_eigenvalues: list[float] | None = None
    top_eigenvectors: torch.Tensor | None = field(default=None, repr=False)
    group_lambda_max: dict[str, float] | None = None
    measured: list[str] | None = None  # the metrics a partial diagnosis (only=...) measured; None: all
    error_bounds: dict[str, float] | None = None  # only=...: each extreme eigenvalue's error bound

    def metrics(self) -> dict[str, float]:
        """The scalar results as metric rows for the long metrics table (what was measured)."""
        out = self._all_metrics()
        return out if self.measured is None else {k: v for k, v in out.items() if k in self.measured}

    def _all_metrics(self) -> dict[str, float]:
        out = {"hess_lambda_max": self.lambda_max, "hess_lambda_min": self.lambda_min,
               "hess_trace": self.trace, "hess_trace_stderr": self.trace_stderr,
               "diag_loss": self.loss, "diag_grad_norm": self.grad_norm}
        if self.negative_fraction is not None:
            out["hess_negative_fraction"] = self.negative_fraction
        if self.eps_sharpness is not None:
            out["eps_sharpness"] = self.eps_sharpness
        return out

    def summary(self) -> dict[str, Any]:
        """One row of a diagnosis table: the verdict and the numbers that explain it."""
        escape = self.escape
        return {"verdict": self.verdict, "lambda_min": self.lambda_min, "lambda_max": self.lambda_max,
                "trace": self.trace, "trace_stderr": self.trace_stderr,
                "negative_fraction": self.negative_fraction, "positive_fraction": self.positive_fraction,
                "escape_step": None if escape is None else escape.step,
                "escape_loss_drop": None if escape is None else escape.loss_before - escape.loss_after,
                "eps_sharpness": self.eps_sharpness}

    def to_dict(self) -> dict[str, Any]:
        vectors = self.top_eigenvectors
        plain = dataclasses.replace(self, top_eigenvectors=None)
        document = json.loads(json.dumps(dataclasses.asdict(plain), default=float))
        document["top_eigenvectors"] = vectors.tolist() if vectors is not None and self.params <= 64 else None
        document["summary"] = self.summary()
        return document


def classify(grad_norm: float, lambda_min: float, lambda_max: float, grad_tol: float,
             eig_tol: float) -> str:
    """The second-derivative test, with explicit tolerances.

    Not critical when ‖g‖ > grad_tol; otherwise a local minimum when every eigenvalue > eig_tol, a local
    maximum when every eigenvalue < −eig_tol, a saddle when both signs occur beyond the tolerance, and
    degenerate (the test is inconclusive: higher-order terms decide) when an end is within the tolerance.
    """
    if not grad_norm <= grad_tol:
        return "not critical"
    if lambda_min > eig_tol:
        return "local minimum"
    if lambda_max < -eig_tol:
        return "local maximum"
    if lambda_min < -eig_tol and lambda_max > eig_tol:
        return "saddle"
    return "degenerate"


def escape_step(objective: Objective, gradient: torch.Tensor, loss: float, direction: torch.Tensor,
                lambda_min: float, steps: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01, 1e-3, 1e-4)) -> Escape:
    """Step along the negative-curvature direction (signed downhill) and measure the loss there.

    Steps are tried largest first, scaled by max(1, ‖θ‖/√d); the first that lowers the loss is kept (the
    smallest one tried is reported when none does, so a failure is visible rather than hidden).
    """
    u = direction.to(objective.theta.dtype)
    u = u / torch.linalg.vector_norm(u)
    if float(gradient @ u) > 0:
        u = -u
    scale = max(1.0, float(torch.linalg.vector_norm(objective.theta)) / math.sqrt(objective.dim))
    slope = float(gradient @ u)
    escape = None
    for eta in (s * scale for s in steps):
        after = objective.loss(objective.theta + eta * u)
        escape = Escape(u.tolist() if objective.dim <= 64 else [], eta, loss, after,
                        eta * slope + 0.5 * eta**2 * lambda_min)
        if after < loss:
            break
    assert escape is not None
    return escape


def epsilon_sharpness(objective: Objective, loss: float, eps: float = 1e-3, steps: int = 10, seed: int = 0) -> float:
    """Keskar et al. (2017)'s sharpness: 100 · (max f(θ+δ) − f(θ)) / (1 + f(θ)) over |δᵢ| ≤ ε(|θᵢ| + 1).

    The maximum is approached by ``steps`` of projected sign-gradient ascent (Keskar used L-BFGS-B), so the
    value is a lower bound of the true ε-sharpness; each step costs one gradient. The ascent starts at a
    seeded random point of the half-box, not at δ = 0, where a critical point's zero gradient would stall it.
    """
    box = eps * (objective.theta.abs() + 1)
    noise = torch.rand(objective.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    delta = (noise.to(box) - 0.5) * box
    best = loss
    for _ in range(steps):
        value, g = objective.loss_and_gradient(objective.theta + delta)
        best = max(best, value)
        delta = torch.clamp(delta + (2.0 / steps) * box * torch.sign(g), -box, box)
    best = max(best, objective.loss(objective.theta + delta))
    return 100.0 * (best - loss) / (1.0 + loss)


@dataclass
class _Spectrum:
    """What :func:`diagnose` learns about H before the verdict (either method)."""

    method: str
    lambda_min: float
    lambda_max: float
    min_vector: torch.Tensor
    trace: float
    trace_stderr: float
    top_values: torch.Tensor
    top_vectors: torch.Tensor
    eigenvalues: torch.Tensor | None = None  # exact only
    quadrature: SpectralDensity | None = None  # Lanczos only: the Ritz values and weights of its run
    hessian: torch.Tensor | None = None
    notes: list[str] = field(default_factory=list)


def _exact(objective: Objective, top_k: int) -> _Spectrum:
    spectrum = exact_spectrum(objective)
    values, vectors = spectrum.values, spectrum.vectors
    k = min(top_k, objective.dim)
    return _Spectrum("exact", float(values[0]), float(values[-1]), vectors[:, 0], float(values.sum()), 0.0,
                     values[-k:].flip(0), vectors[:, -k:].flip(1).T.contiguous(), values, hessian=spectrum.hessian)


def _by_lanczos(objective: Objective, iters: int, tol: float, probes: int, seed: int, top_k: int) -> _Spectrum:
    result = lanczos(objective.hvp, objective.dim, iters, tol, seed=seed, device=objective.theta.device, top_k=top_k)
    notes = []
    if not result.converged:
        notes.append(f"Lanczos stopped after {result.iterations} iterations before reaching tol={tol}; "
                     f"residuals (λ_min, λ_max) = {result.residuals[0]:.3g}, {result.residuals[1]:.3g}")
    assert result.basis is not None
    # the Krylov basis Lanczos built anyway takes the dominant directions out of the trace's noise
    estimate = deflated_trace(objective, result.basis, float(result.ritz_values.sum()), probes, seed)
    quadrature = SpectralDensity(result.ritz_values.tolist(), result.ritz_weights.tolist())
    assert result.top_values is not None and result.top_vectors is not None
    return _Spectrum("lanczos", float(result.ritz_values[0]), float(result.ritz_values[-1]), result.min_vector,
                     estimate.value, estimate.stderr, result.top_values, result.top_vectors,
                     quadrature=quadrature, notes=notes)


def _fractions(spectrum: _Spectrum, density: SpectralDensity | None, eig_tol: float) -> tuple[float, float, str]:
    """(negative fraction, positive fraction, how they were obtained)."""
    if spectrum.eigenvalues is not None:
        values = spectrum.eigenvalues
        n = values.numel()
        return float((values < -eig_tol).sum()) / n, float((values > eig_tol).sum()) / n, "exact"
    measure, how = (density, "slq") if density is not None else (spectrum.quadrature, "lanczos quadrature (1 vector)")
    assert measure is not None
    negative = measure.fraction_below(-eig_tol)
    return negative, measure.fraction_above(eig_tol), how


def diagnose(task: Task, model: nn.Module, examples: int | None = None, seed: int = 0, *,
             exact_max_params: int = 3000, lanczos_iters: int = 80, lanczos_tol: float = 1e-3,
             trace_probes: int = 16, grad_tol: float = 1e-3, eig_tol: float | None = None,
             eps: float = 1e-3, eps_steps: int = 10, density: bool = False, density_vectors: int = 4,
             density_iters: int = 40, chunk_size: int = 4096, hvp_method: str = "auto",
             top_k: int = 1, per_layer: bool = False) -> Diagnosis:
    """Diagnose ``model`` on ``task``'s training loss (all examples, or a seeded subset of ``examples``).

    Exact eigendecomposition when the model has at most ``exact_max_params`` parameters, else Lanczos for
    both ends of the spectrum (and the ``top_k`` largest eigenpairs) and, for the trace, Hutchinson on
    what the Lanczos basis leaves (:func:`~optbench.curvature.spectrum.deflated_trace`).
    Lanczos stops when the Ritz residuals of λ_min and the top-k are ≤ ``lanczos_tol`` × max|λ| (the
    eigenvalue error is at most the residual, usually its square over the gap: on the phoneme MLP λ_min is
    within 1.2 % of its converged value at 1e-3 with 40 % fewer HVPs than at 1e-5; tighten it for more).
    ``per_layer`` adds λ_max of each parameter tensor's diagonal Hessian block. ``eig_tol`` defaults to
    1e-6 · max(|λ_min|, |λ_max|) + 1e-9 (relative to the spectrum's scale, with a floor for a zero Hessian).
    """
    started = time.perf_counter()
    device = next(model.parameters()).device
    objective = Objective(task, model, example_indices(task, examples, seed, device), chunk_size, hvp_method)
    loss, gradient = objective.loss_and_gradient()
    grad_norm = float(torch.linalg.vector_norm(gradient))
    if objective.dim <= exact_max_params:
        spectrum = _exact(objective, top_k)
    else:
        spectrum = _by_lanczos(objective, lanczos_iters, lanczos_tol, trace_probes, seed, top_k)
    if eig_tol is None:
        eig_tol = 1e-6 * max(abs(spectrum.lambda_min), abs(spectrum.lambda_max)) + 1e-9
    verdict = classify(grad_norm, spectrum.lambda_min, spectrum.lambda_max, grad_tol, eig_tol)
    escape = None
    if spectrum.lambda_min < -eig_tol:
        escape = escape_step(objective, gradient, loss, spectrum.min_vector, spectrum.lambda_min)
    sharp = epsilon_sharpness(objective, loss, eps, eps_steps, seed) if eps_steps > 0 else None
    spectral = spectral_density(objective, density_vectors, density_iters, seed) if density else None
    negative, positive, how = _fractions(spectrum, spectral, eig_tol)
    groups = group_lambda_max(objective, seed=seed, hessian=spectrum.hessian) if per_layer else None
    cost = {"hvps": objective.counts["hvp"], "gradients": objective.counts["gradient"],
            "losses": objective.counts["loss"], "seconds": time.perf_counter() - started}
    eigenvalues = None if spectrum.eigenvalues is None else spectrum.eigenvalues.tolist()
    return Diagnosis(loss, grad_norm, spectrum.lambda_min, spectrum.lambda_max, verdict,
                     {"grad_tol": grad_tol, "eig_tol": eig_tol, "eps": eps}, spectrum.method, objective.dim,
                     objective.n_examples, spectrum.trace, spectrum.trace_stderr, sharp, eigenvalues, escape,
                     spectral, cost, spectrum.notes, negative, positive, how, spectrum.top_values.tolist(),
                     spectrum.top_vectors, groups)


#: ``only=`` values: which extreme eigenvalues a partial diagnosis estimates
ONLY = {"lambda_max": ("max",), "lambda_min": ("min",), "lambda_min+lambda_max": ("min", "max"),
        "lambda_max+lambda_min": ("min", "max")}


def diagnose_extremes(task: Task, model: nn.Module, only: str, examples: int | None = None, seed: int = 0, *,
                      tol: float = 1e-3, iters: int = 100, grad_tol: float = 1e-3, chunk_size: int = 4096,
                      hvp_method: str = "auto") -> Diagnosis:
    """Only the extreme eigenvalue(s) named by ``only`` (see :data:`ONLY`), each to a relative error bound
    ``tol`` (:func:`~optbench.curvature.spectrum.extreme_eigenvalues`), plus the loss and gradient norm.

    No trace, fractions, escape or sharpness; the verdict needs both ends, so with one it is "not assessed".
    """
    started = time.perf_counter()
    device = next(model.parameters()).device
    objective = Objective(task, model, example_indices(task, examples, seed, device), chunk_size, hvp_method)
    loss, gradient = objective.loss_and_gradient()
    grad_norm = float(torch.linalg.vector_norm(gradient))
    ends = ONLY[only]
    found = extreme_eigenvalues(objective.hvp, objective.dim, ends, tol, iters, seed, device)
    lambda_min, lambda_max = found.values.get("min", math.nan), found.values.get("max", math.nan)
    eig_tol = 1e-6 * max(abs(v) for v in found.values.values()) + 1e-9
    verdict = classify(grad_norm, lambda_min, lambda_max, grad_tol, eig_tol) if len(ends) == 2 else "not assessed"
    notes = [f"only {only}: Lanczos to a relative error bound of {tol:g} in {found.iterations} HVPs"]
    if not found.converged:
        notes.append(f"stopped after {iters} HVPs before reaching tol={tol:g}; bounds "
                     + ", ".join(f"λ_{end} {bound:.3g}" for end, bound in found.bounds.items()))
    cost = {"hvps": objective.counts["hvp"], "gradients": objective.counts["gradient"],
            "losses": objective.counts["loss"], "seconds": time.perf_counter() - started}
    measured = ["diag_loss", "diag_grad_norm"] + [f"hess_lambda_{end}" for end in ends]
    top = [lambda_max] if "max" in ends else []
    return Diagnosis(loss, grad_norm, lambda_min, lambda_max, verdict,
                     {"grad_tol": grad_tol, "eig_tol": eig_tol, "tol": tol}, "lanczos-extreme", objective.dim,
                     objective.n_examples, math.nan, math.nan, cost=cost, notes=notes, top_eigenvalues=top,
                     measured=measured, error_bounds={f"lambda_{end}": b for end, b in found.bounds.items()})

"""Curvature of a task's loss at a point, critical-point verdicts, sharpness and gradient noise scale.

This module owns everything optbench measures about the *shape* of the loss rather than the path an
optimizer takes on it:

- :class:`Objective`: a task's mean training loss as a function of one flat parameter vector, over a
  fixed set of examples (default: the whole training set) evaluated in chunks. It gives the loss, the
  gradient and Hessian-vector products (forward-over-reverse with :mod:`torch.func`, or double backward),
  and counts how many of each it computed.
- the spectrum: the exact eigendecomposition when the model is small (the Hessian is built column by
  column from batched HVPs), else :func:`lanczos` with full reorthogonalisation for both ends of the
  spectrum; :func:`hutchinson_trace` (Rademacher probes, with a standard error) and
  :func:`spectral_density` (stochastic Lanczos quadrature, as PyHessian does).
- :func:`diagnose`: gradient norm, λ_min, λ_max, a verdict (not critical / local minimum / saddle /
  local maximum / degenerate) with the tolerances used, the escape direction at a saddle and the
  measured loss drop along it, and sharpness (λ_max and Keskar's ε-sharpness).
- :func:`noise_scale`: McCandlish et al. (2018)'s simple noise scale B_simple = tr(Σ)/|G|² from gradient
  norms at two batch sizes (finite-population form, unbiased for sampling without replacement).
- the runner hooks (:class:`DiagnoseSettings`, :class:`NoiseScaleSettings`) that record these in the
  store as metrics rows and as ``diagnosis/<trial_id>.json``.

The loss is always evaluated with the model in eval mode (dropout off, batch-norm on running
statistics), because curvature of a random function is not defined; the model's mode is restored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value, jvp, vmap

from optbench.errors import OptbenchError, SpecError, did_you_mean
from optbench.spec import parse_value, split_top_level
from optbench.tasks.base import Task

VERDICTS = ("not critical", "local minimum", "saddle", "local maximum", "degenerate")
HVP_METHODS = ("forward-over-reverse", "double-backward")


class _LossModule(nn.Module):
    """Wraps (task, model) so that ``functional_call`` can swap the model's parameters for any task.loss.

    Tasks may read parameters directly (the toy surfaces use ``model.theta``) instead of calling the
    model, so swapping has to cover the whole ``task.loss`` call, not just ``model.forward``.
    """

    def __init__(self, task: Task, model: nn.Module):
        super().__init__()
        self.model = model
        self._task = task

    def forward(self, batch: Any) -> torch.Tensor:
        return self._task.loss(self.model, batch)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def example_indices(task: Task, examples: int | None = None, seed: int = 0,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """Indices of the examples a diagnosis uses: all of them, or a seeded random subset of ``examples``."""
    n = task.n_train
    if examples is None or examples >= n:
        return torch.arange(n, device=device)
    if examples < 1:
        raise SpecError(f"examples must be >= 1, got {examples}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:examples].sort().values.to(device)


class Objective:
    """A task's mean loss over fixed examples, as a function of a flat parameter vector θ.

    ``indices`` (default: every training example) are split into chunks of ``chunk_size`` examples; the
    loss, gradient and HVP are the example-weighted sums of the chunk results, so memory stays bounded
    for big tasks. ``hvp_method`` picks forward-over-reverse (``jvp`` of ``grad``, usually faster) or
    double backward (``torch.autograd.grad`` twice, for ops without forward-mode AD).
    """

    def __init__(self, task: Task, model: nn.Module, indices: torch.Tensor | None = None,
                 chunk_size: int = 4096, hvp_method: str = "forward-over-reverse"):
        if hvp_method not in HVP_METHODS:
            raise SpecError(f"hvp_method must be one of {', '.join(HVP_METHODS)}, got {hvp_method!r}")
        if chunk_size < 1:
            raise SpecError(f"chunk_size must be >= 1, got {chunk_size}")
        self.task, self.model, self.hvp_method = task, model, hvp_method
        self.module = _LossModule(task, model)
        trainable = [(name, p) for name, p in self.module.named_parameters() if p.requires_grad]
        if not trainable:
            raise OptbenchError(f"task {type(task).__name__}: the model has no trainable parameters")
        self.names = [name for name, _ in trainable]
        self.shapes = [p.shape for _, p in trainable]
        self.numels = [p.numel() for _, p in trainable]
        self.fixed = {name: p.detach() for name, p in self.module.named_parameters() if not p.requires_grad}
        self.fixed.update({name: b for name, b in self.module.named_buffers()})
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in trainable]).clone()
        self.dim = self.theta.numel()
        device = self.theta.device
        indices = torch.arange(task.n_train, device=device) if indices is None else indices.to(device)
        if indices.numel() == 0:
            raise SpecError("a diagnosis needs at least one example")
        self.n_examples = int(indices.numel())
        self.chunks = [(chunk, chunk.numel() / self.n_examples) for chunk in indices.split(chunk_size)]
        self.counts = {"loss": 0, "gradient": 0, "hvp": 0}

    # functional pieces ------------------------------------------------------------------------
    def _params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = theta.split(self.numels)
        return {name: piece.view(shape) for name, piece, shape in zip(self.names, pieces, self.shapes, strict=True)}

    def _chunk_loss(self, theta: torch.Tensor, batch: Any) -> torch.Tensor:
        return functional_call(self.module, {**self._params(theta), **self.fixed}, (batch,))

    def _batches(self) -> Iterator[tuple[Any, float]]:
        # built per call (not cached) so a big task never holds a second copy of its training set
        for chunk, weight in self.chunks:
            yield self.task.train_batch(chunk), weight

    # public evaluations ----------------------------------------------------------------------
    def loss(self, theta: torch.Tensor | None = None) -> float:
        theta = self.theta if theta is None else theta
        self.counts["loss"] += 1
        with torch.no_grad(), _eval_mode(self.model):
            return float(sum(weight * self._chunk_loss(theta, batch) for batch, weight in self._batches()))

    def loss_and_gradient(self, theta: torch.Tensor | None = None) -> tuple[float, torch.Tensor]:
        theta = self.theta if theta is None else theta
        self.counts["gradient"] += 1
        total_loss, total_grad = 0.0, torch.zeros_like(theta)
        with _eval_mode(self.model):
            for batch, weight in self._batches():
                g, value = grad_and_value(self._chunk_loss)(theta, batch)
                total_loss += weight * float(value)
                total_grad += weight * g
        return total_loss, total_grad

    def chunk_gradients(self) -> torch.Tensor:
        """The gradient of each chunk's own mean loss, stacked (chunks, d): for gradient-noise estimates."""
        self.counts["gradient"] += len(self.chunks)
        with _eval_mode(self.model):
            return torch.stack([grad(self._chunk_loss)(self.theta, self.task.train_batch(chunk))
                                for chunk, _ in self.chunks])

    def _hvp_chunk(self, v: torch.Tensor, batch: Any) -> torch.Tensor:
        if self.hvp_method == "forward-over-reverse":
            return jvp(lambda t: grad(self._chunk_loss)(t, batch), (self.theta,), (v,))[1]
        theta = self.theta.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(self._chunk_loss(theta, batch), theta, create_graph=True)
            (hv,) = torch.autograd.grad(g, theta, v)
        return hv

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H v at θ (``v`` in any float dtype; the result has ``v``'s dtype)."""
        self.counts["hvp"] += 1
        vector = v.to(self.theta.dtype)
        total = torch.zeros_like(self.theta)
        with _eval_mode(self.model):
            for batch, weight in self._batches():
                total += weight * self._hvp_chunk(vector, batch)
        return total.to(v.dtype)

    def hvp_many(self, vectors: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """H vᵢ for the rows of ``vectors`` (k, d), ``chunk`` at a time under vmap."""
        self.counts["hvp"] += vectors.shape[0]
        rows = vectors.to(self.theta.dtype)
        total = torch.zeros_like(rows)
        with _eval_mode(self.model):
            for batch, weight in self._batches():
                if self.hvp_method == "forward-over-reverse":
                    total += weight * vmap(lambda v, b=batch: self._hvp_chunk(v, b), chunk_size=chunk)(rows)
                else:  # double backward does not compose with vmap: one product at a time
                    total += weight * torch.stack([self._hvp_chunk(v, batch) for v in rows])
        return total.to(vectors.dtype)

    def hessian(self, chunk: int = 32) -> torch.Tensor:
        """The full d×d Hessian in float64, symmetrised (d HVPs); only sensible for small models."""
        eye = torch.eye(self.dim, dtype=self.theta.dtype, device=self.theta.device)
        h = self.hvp_many(eye, chunk).double()
        return 0.5 * (h + h.T)


# ----------------------------------------------------------------------------------------------
# spectrum
# ----------------------------------------------------------------------------------------------

@dataclass
class LanczosResult:
    """Ritz values (ascending), the Ritz vectors of the two ends, their residual norms, iterations."""

    ritz_values: torch.Tensor
    ritz_weights: torch.Tensor  # squared first components of T's eigenvectors (for quadrature)
    min_vector: torch.Tensor
    max_vector: torch.Tensor
    residuals: tuple[float, float]
    iterations: int
    converged: bool


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], dim: int, iters: int = 80, tol: float = 1e-6,
            start: torch.Tensor | None = None, seed: int = 0, check_every: int = 4,
            device: torch.device | str = "cpu") -> LanczosResult:
    """Lanczos with full reorthogonalisation (float64) for the extreme eigenpairs of a symmetric operator.

    Stops when the residual norm ‖H y − θ y‖ = |β_j s_j| of both extreme Ritz pairs is below
    ``tol`` × (largest |Ritz value|), after ``iters`` iterations, or when the Krylov space is exhausted.
    The eigenvalue error of a Ritz value is at most its residual norm (and usually its square / gap).
    """
    iters = max(1, min(int(iters), dim))
    if start is None:
        start = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q = start.to(device=device, dtype=torch.float64)
    q = q / torch.linalg.vector_norm(q)
    basis = torch.empty(iters, dim, dtype=torch.float64, device=device)
    alphas: list[float] = []
    betas: list[float] = []
    converged = False

    def ritz() -> tuple[torch.Tensor, torch.Tensor]:
        k = len(alphas)
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if k > 1:
            off = torch.tensor(betas[: k - 1], dtype=torch.float64)
            t += torch.diag(off, 1) + torch.diag(off, -1)
        return torch.linalg.eigh(t)

    residual_next = 0.0
    for j in range(iters):
        basis[j] = q
        w = matvec(q).to(torch.float64)
        alpha = float(q @ w)
        w = w - alpha * q - (betas[-1] * basis[j - 1] if j > 0 else 0.0)
        # full reorthogonalisation, twice ("twice is enough"): keeps the Ritz values free of ghost copies
        for _ in range(2):
            w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
        alphas.append(alpha)
        residual_next = float(torch.linalg.vector_norm(w))
        betas.append(residual_next)
        values, vectors = ritz()
        scale = max(float(values.abs().max()), 1e-30)
        if residual_next <= 1e-12 * scale:  # invariant subspace found: the Ritz values are exact
            converged = True
            break
        if (j + 1) % check_every == 0 or j + 1 == iters:
            res = (abs(residual_next * float(vectors[-1, 0])), abs(residual_next * float(vectors[-1, -1])))
            if max(res) <= tol * scale:
                converged = True
                break
        if j + 1 < iters:
            q = w / residual_next
    k = len(alphas)
    values, vectors = ritz()
    res = (abs(residual_next * float(vectors[-1, 0])), abs(residual_next * float(vectors[-1, -1])))
    ends = basis[:k].T @ vectors[:, [0, -1]]
    return LanczosResult(values, vectors[0, :] ** 2, ends[:, 0], ends[:, 1], res, k,
                         converged or res[0] + res[1] == 0.0)


@dataclass
class TraceEstimate:
    """Hutchinson's estimate of tr(H): mean of zᵀHz over Rademacher probes z, and its standard error."""

    value: float
    stderr: float
    probes: int


def hutchinson_trace(objective: Objective, probes: int = 32, seed: int = 0, chunk: int = 32) -> TraceEstimate:
    """tr(H) ≈ mean zᵀHz with z ∈ {±1}^d; standard error = sample std / √probes."""
    if probes < 2:
        raise SpecError(f"Hutchinson needs at least 2 probes for a standard error, got {probes}")
    g = torch.Generator().manual_seed(seed)
    z = (torch.randint(0, 2, (probes, objective.dim), generator=g) * 2 - 1).to(objective.theta)
    samples = (objective.hvp_many(z, chunk) * z).sum(dim=1).double()
    return TraceEstimate(float(samples.mean()), float(samples.std() / math.sqrt(probes)), probes)


@dataclass
class SpectralDensity:
    """Stochastic Lanczos quadrature: nodes and weights whose Gaussian-smoothed sum is the density."""

    nodes: list[float]
    weights: list[float]

    def evaluate(self, grid: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
        """The density on ``grid`` (weights sum to 1), smoothed by a Gaussian of width ``sigma``."""
        nodes, weights = torch.tensor(self.nodes, dtype=torch.float64), torch.tensor(self.weights, dtype=torch.float64)
        if sigma is None:
            sigma = max(float(nodes.max() - nodes.min()), 1e-12) / 100
        kernel = torch.exp(-0.5 * ((grid.double()[:, None] - nodes[None, :]) / sigma) ** 2)
        return (kernel * weights[None, :]).sum(dim=1) / (sigma * math.sqrt(2 * math.pi))


def spectral_density(objective: Objective, vectors: int = 4, iters: int = 40, seed: int = 0) -> SpectralDensity:
    """Stochastic Lanczos quadrature (Ubaru et al. 2017; PyHessian): ``vectors`` × ``iters`` HVPs."""
    nodes: list[float] = []
    weights: list[float] = []
    g = torch.Generator().manual_seed(seed)
    for _ in range(vectors):
        start = (torch.randint(0, 2, (objective.dim,), generator=g) * 2 - 1).double()
        result = lanczos(objective.hvp, objective.dim, iters=iters, tol=0.0, start=start,
                         device=objective.theta.device)
        nodes += result.ritz_values.tolist()
        weights += (result.ritz_weights / vectors).tolist()
    return SpectralDensity(nodes, weights)


# ----------------------------------------------------------------------------------------------
# diagnosis
# ----------------------------------------------------------------------------------------------

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
    """Everything measured at one point; ``to_dict`` is what ``diagnosis/<trial_id>.json`` holds."""

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

    @property
    def sharpness(self) -> float:
        """Sharpness in the top-eigenvalue sense (Keskar et al.'s ε-sharpness is ``eps_sharpness``)."""
        return self.lambda_max

    def metrics(self) -> dict[str, float]:
        """The scalar results as metric rows for the long metrics table."""
        out = {"hess_lambda_max": self.lambda_max, "hess_lambda_min": self.lambda_min,
               "hess_trace": self.trace, "hess_trace_stderr": self.trace_stderr,
               "diag_loss": self.loss, "diag_grad_norm": self.grad_norm}
        if self.eps_sharpness is not None:
            out["eps_sharpness"] = self.eps_sharpness
        return out

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=float))


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


def diagnose(task: Task, model: nn.Module, examples: int | None = None, seed: int = 0, *,
             exact_max_params: int = 3000, lanczos_iters: int = 80, lanczos_tol: float = 1e-5,
             trace_probes: int = 32, grad_tol: float = 1e-3, eig_tol: float | None = None,
             eps: float = 1e-3, eps_steps: int = 10, density: bool = False, density_vectors: int = 4,
             density_iters: int = 40, chunk_size: int = 4096,
             hvp_method: str = "forward-over-reverse") -> Diagnosis:
    """Diagnose ``model`` on ``task``'s training loss (all examples, or a seeded subset of ``examples``).

    Exact eigendecomposition when the model has at most ``exact_max_params`` parameters, else Lanczos for
    both ends of the spectrum and Hutchinson for the trace. ``eig_tol`` defaults to
    1e-6 · max(|λ_min|, |λ_max|) + 1e-9 (relative to the spectrum's scale, with a floor for a zero Hessian).
    """
    started = time.perf_counter()
    device = next(model.parameters()).device
    objective = Objective(task, model, example_indices(task, examples, seed, device), chunk_size, hvp_method)
    loss, gradient = objective.loss_and_gradient()
    notes: list[str] = []
    grad_norm = float(torch.linalg.vector_norm(gradient))
    eigenvalues: list[float] | None = None
    if objective.dim <= exact_max_params:
        method = "exact"
        values, vectors = torch.linalg.eigh(objective.hessian())
        lambda_min, lambda_max = float(values[0]), float(values[-1])
        min_vector = vectors[:, 0]
        trace, trace_stderr = float(values.sum()), 0.0
        eigenvalues = values.tolist()
    else:
        method = "lanczos"
        result = lanczos(objective.hvp, objective.dim, lanczos_iters, lanczos_tol, seed=seed, device=device)
        lambda_min, lambda_max = float(result.ritz_values[0]), float(result.ritz_values[-1])
        min_vector = result.min_vector
        if not result.converged:
            notes.append(f"Lanczos stopped after {result.iterations} iterations before reaching tol={lanczos_tol}; "
                         f"residuals (λ_min, λ_max) = {result.residuals[0]:.3g}, {result.residuals[1]:.3g}")
        estimate = hutchinson_trace(objective, trace_probes, seed)
        trace, trace_stderr = estimate.value, estimate.stderr
    if eig_tol is None:
        eig_tol = 1e-6 * max(abs(lambda_min), abs(lambda_max)) + 1e-9
    verdict = classify(grad_norm, lambda_min, lambda_max, grad_tol, eig_tol)
    escape = None
    if lambda_min < -eig_tol:
        escape = escape_step(objective, gradient, loss, min_vector, lambda_min)
    sharp = epsilon_sharpness(objective, loss, eps, eps_steps, seed) if eps_steps > 0 else None
    spectral = spectral_density(objective, density_vectors, density_iters, seed) if density else None
    cost = {"hvps": objective.counts["hvp"], "gradients": objective.counts["gradient"],
            "losses": objective.counts["loss"], "seconds": time.perf_counter() - started}
    return Diagnosis(loss, grad_norm, lambda_min, lambda_max, verdict,
                     {"grad_tol": grad_tol, "eig_tol": eig_tol, "eps": eps}, method, objective.dim,
                     objective.n_examples, trace, trace_stderr, sharp, eigenvalues, escape, spectral, cost, notes)


# ----------------------------------------------------------------------------------------------
# gradient noise scale
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# runner integration
# ----------------------------------------------------------------------------------------------

def _parse_settings(cls: type, text: str | None, option: str) -> Any:
    """``"key=value,key2=value"`` → an instance of the settings dataclass ``cls`` (one-line errors)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for item in split_top_level(text or ""):
        key, eq, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or not raw.strip():
            raise SpecError(f"{option}: malformed setting {item!r}, write key=value")
        if key not in names:
            raise SpecError(f"{option}: unknown setting {key!r}{did_you_mean(key, names)} (known: {', '.join(names)})")
        values[key] = parse_value(raw)
    try:
        settings = cls(**values)
    except TypeError as exc:
        raise SpecError(f"{option}: {exc}") from None
    settings.validate(option)
    return settings


@dataclass
class DiagnoseSettings:
    """``--diagnose [examples=N,density=true,...]``: an end-of-trial diagnosis, outside the clock."""

    examples: int | None = 4096  # a seeded subset keeps big tasks at seconds; none = every example
    exact_max_params: int = 3000
    lanczos_iters: int = 80
    trace_probes: int = 32
    grad_tol: float = 1e-3
    eps_steps: int = 10
    density: bool = False

    @classmethod
    def parse(cls, text: str | None) -> DiagnoseSettings:
        return _parse_settings(cls, text, "--diagnose")

    def validate(self, option: str = "--diagnose") -> None:
        for name in ("exact_max_params", "lanczos_iters", "trace_probes", "eps_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise SpecError(f"{option}: {name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.examples is not None and (not isinstance(self.examples, int) or self.examples < 1):
            raise SpecError(f"{option}: examples must be an integer >= 1 or none, got {self.examples!r}")
        if self.trace_probes < 2:
            raise SpecError(f"{option}: trace_probes must be >= 2, got {self.trace_probes}")

    def run(self, task: Task, model: nn.Module, seed: int) -> Diagnosis:
        return diagnose(task, model, self.examples, seed, exact_max_params=self.exact_max_params,
                        lanczos_iters=self.lanczos_iters, trace_probes=self.trace_probes, grad_tol=self.grad_tol,
                        eps_steps=self.eps_steps, density=bool(self.density))


@dataclass
class NoiseScaleSettings:
    """``--noise-scale every=N[,small=b,chunks=k]``: record B_simple every N steps, outside the clock.

    ``small`` defaults to the trial's batch size (or n/8 when that is more than half the data), and the
    big batch is ``chunks`` × ``small`` examples, capped by the training set.
    """

    every: int = 50
    small: int | None = None
    chunks: int = 8

    @classmethod
    def parse(cls, text: str | None) -> NoiseScaleSettings:
        return _parse_settings(cls, text, "--noise-scale")

    def validate(self, option: str = "--noise-scale") -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise SpecError(f"{option}: every must be an integer >= 1, got {self.every!r}")
        if not isinstance(self.chunks, int) or self.chunks < 2:
            raise SpecError(f"{option}: chunks must be an integer >= 2, got {self.chunks!r}")
        if self.small is not None and (not isinstance(self.small, int) or self.small < 1):
            raise SpecError(f"{option}: small must be an integer >= 1, got {self.small!r}")

    def batch_sizes(self, batch_size: int, n: int) -> tuple[int, int] | None:
        """(small, chunks) for a trial, or None when the data set is too small for two batch sizes."""
        small = self.small if self.small is not None else (batch_size if 2 * batch_size <= n else n // 8)
        chunks = min(self.chunks, n // small) if small >= 1 else 0
        return (small, chunks) if small >= 1 and chunks >= 2 else None

    def measure(self, task: Task, model: nn.Module, batch_size: int, seed: int, step: int) -> dict[str, float]:
        """The metrics rows of one measurement (none when the task is too small for it)."""
        sizes = self.batch_sizes(batch_size, task.n_train)
        if sizes is None:
            return {}
        # its own generator and a forked global RNG: measuring must not change the trial's numbers
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        with torch.random.fork_rng(devices=[]):
            estimate = noise_scale(task, model, sizes[0], sizes[1], generator)
        return {"noise_grad_sq": estimate.grad_sq, "noise_trace_cov": estimate.trace_cov,
                "grad_noise_scale": estimate.b_simple}


def end_of_trial(settings: DiagnoseSettings, task: Task, model: nn.Module, seed: int,
                 record: Callable[[str, float], None]) -> dict[str, Any]:
    """The runner's end-of-trial hook: record the scalar results and return the JSON document.

    A diagnosis that fails (a task whose loss torch.func cannot differentiate, say) is reported in the
    document's ``error`` field; it never fails a trial that trained fine.
    """
    try:
        with torch.random.fork_rng(devices=[]):
            result = settings.run(task, model, seed)
    except Exception as exc:  # noqa: BLE001 - recorded for the user, the trial itself succeeded
        return {"point": "final", "error": f"{type(exc).__name__}: {exc}"}
    for name, value in result.metrics().items():
        record(name, value)
    return {"point": "final", **result.to_dict()}


def diagnosis_path(store_path: str | Path, trial_id: str) -> Path:
    return Path(store_path) / "diagnosis" / f"{trial_id}.json"


def write_diagnosis(store_path: str | Path, trial_id: str, document: dict[str, Any], name: str | None = None) -> Path:
    """Write ``diagnosis/<name or trial_id>.json`` atomically (temporary file, then rename)."""
    from optbench.store import _atomic_write_bytes

    path = Path(store_path) / "diagnosis" / f"{name or trial_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(document, indent=2, default=float).encode()
    _atomic_write_bytes(path, lambda handle: handle.write(payload))
    return path


def read_diagnoses(store_path: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``diagnosis/*.json`` of a store, keyed by file stem (the trial id for end-of-trial ones)."""
    folder = Path(store_path) / "diagnosis"
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out[path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise OptbenchError(f"{path} is not valid JSON: {exc}") from None
    return out

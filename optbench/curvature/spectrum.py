"""The Hessian's spectrum from Hessian-vector products: Lanczos, exact eigh, Hutchinson, SLQ, per-group λ_max.

This module owns the linear algebra on a symmetric operator given as a matvec (usually
:meth:`Objective.hvp`):

- :func:`lanczos` with full reorthogonalisation (float64) for both ends of the spectrum and the top-k
  eigenpairs (values and vectors), with residual-based stopping;
- :func:`extreme_eigenvalues`: the same iteration for only the end(s) asked for (λ_max, λ_min), stopping
  as soon as each one's error bound meets a relative tolerance (``--diagnose only=lambda_max``);
- :func:`exact_spectrum`: every eigenpair from ``eigh`` of the Hessian built from batched HVPs (small models);
- :func:`hutchinson_trace` (Rademacher probes, with a standard error), :func:`deflated_trace` (the same
  on what a Lanczos basis leaves, Hutch++-style) and :func:`spectral_density`
  (stochastic Lanczos quadrature, as PyHessian does);
- :func:`group_lambda_max`: λ_max of each parameter tensor's diagonal Hessian block (per layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from optbench.curvature.objective import Objective
from optbench.errors import SpecError

Matvec = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LanczosResult:
    """Ritz values (ascending), the Ritz vectors of the two ends, their residual norms, iterations.

    ``top_values`` (descending) and ``top_vectors`` (k, d) are the k largest Ritz pairs asked for.
    """

    ritz_values: torch.Tensor
    ritz_weights: torch.Tensor  # squared first components of T's eigenvectors (for quadrature)
    min_vector: torch.Tensor
    max_vector: torch.Tensor
    residuals: tuple[float, float]
    iterations: int
    converged: bool
    top_values: torch.Tensor | None = None
    top_vectors: torch.Tensor | None = None
    basis: torch.Tensor | None = None  # the orthonormal Krylov basis Q (iterations, d), for a deflated trace


def _tridiagonal_eigh(alphas: list[float], betas: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if len(alphas) > 1:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(t)


def _residuals(beta: float, vectors: torch.Tensor, top_k: int) -> tuple[float, float]:
    """(λ_min residual, worst residual of the top-k Ritz pairs): |β_j s_j| from T's eigenvectors' last row."""
    last = vectors[-1].abs() * beta
    k = min(top_k, last.numel())
    return float(last[0]), float(last[-k:].max())


def _lanczos_step(matvec: Matvec, basis: torch.Tensor, j: int, q: torch.Tensor,
                  previous_beta: float) -> tuple[float, torch.Tensor]:
    basis[j] = q
    w = matvec(q).to(torch.float64)
    alpha = float(q @ w)
    w = w - alpha * q - (previous_beta * basis[j - 1] if j > 0 else 0.0)
    # full reorthogonalisation, twice ("twice is enough"): keeps the Ritz values free of ghost copies
    for _ in range(2):
        w = w - basis[: j + 1].T @ (basis[: j + 1] @ w)
    return alpha, w


def lanczos(matvec: Matvec, dim: int, iters: int = 80, tol: float = 1e-6, start: torch.Tensor | None = None,
            seed: int = 0, check_every: int = 4, device: torch.device | str = "cpu", top_k: int = 1) -> LanczosResult:
    """Lanczos with full reorthogonalisation (float64) for the extreme eigenpairs of a symmetric operator.

    Stops when the residual norm ‖H y − θ y‖ = |β_j s_j| of λ_min's and of the ``top_k`` largest Ritz pairs
    is below ``tol`` × (largest |Ritz value|), after ``iters`` iterations, or when the Krylov space is
    exhausted. The eigenvalue error of a Ritz value is at most its residual norm (usually its square / gap).
    """
    iters = max(1, min(int(iters), dim))

    def done(j: int, beta: float, values: torch.Tensor, vectors: torch.Tensor) -> bool:
        scale = max(float(values.abs().max()), 1e-30)
        return ((j + 1) % check_every == 0 or j + 1 == iters) and max(_residuals(beta, vectors, top_k)) <= tol * scale

    basis, alphas, betas, _, _, converged = _krylov(matvec, dim, iters, start, seed, device, done)
    return _lanczos_result(basis, alphas, betas, converged, top_k)


Stop = Callable[[int, float, torch.Tensor, torch.Tensor], bool]


def _krylov(matvec: Matvec, dim: int, iters: int, start: torch.Tensor | None, seed: int,
            device: torch.device | str, done: Stop) -> tuple[torch.Tensor, list[float], list[float], torch.Tensor,
                                                             torch.Tensor, bool]:
    """The Lanczos iteration shared by :func:`lanczos` and :func:`extreme_eigenvalues`: one matvec per step,
    T's eigenpairs after each, until ``done(j, β, values, vectors)``, ``iters`` steps, or an invariant
    subspace. Returns (basis, α's, β's, T's values, T's vectors, converged)."""
    iters = max(1, min(int(iters), dim))
    if start is None:
        start = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    q = start.to(device=device, dtype=torch.float64)
    q = q / torch.linalg.vector_norm(q)
    basis = torch.empty(iters, dim, dtype=torch.float64, device=device)
    alphas: list[float] = []
    betas: list[float] = [0.0]
    converged = False
    for j in range(iters):
        alpha, w = _lanczos_step(matvec, basis, j, q, betas[-1])
        alphas.append(alpha)
        betas.append(float(torch.linalg.vector_norm(w)))
        values, vectors = _tridiagonal_eigh(alphas, betas[1:])
        scale = max(float(values.abs().max()), 1e-30)
        if betas[-1] <= 1e-12 * scale or done(j, betas[-1], values, vectors):  # invariant subspace: exact
            converged = True
            break
        q = w / betas[-1]
    return basis[: len(alphas)], alphas, betas, values, vectors, converged


def _lanczos_result(basis: torch.Tensor, alphas: list[float], betas: list[float], converged: bool,
                    top_k: int) -> LanczosResult:
    values, vectors = _tridiagonal_eigh(alphas, betas[1:])
    beta = betas[-1]
    res = (abs(beta * float(vectors[-1, 0])), abs(beta * float(vectors[-1, -1])))
    ends = basis.T @ vectors[:, [0, -1]]
    k = min(top_k, len(alphas))
    top = basis.T @ vectors[:, -k:].flip(1)
    return LanczosResult(values, vectors[0, :] ** 2, ends[:, 0], ends[:, 1], res, len(alphas),
                         converged or res[0] + res[1] == 0.0, values[-k:].flip(0), top.T.contiguous(), basis)


ENDS = ("max", "min")


@dataclass
class Extremes:
    """The extreme eigenvalue(s) asked for, each with its error bound, and what they cost.

    ``values[end]`` is a Ritz value, so it lies inside the spectrum: λ_max is approached from below and
    λ_min from above. ``bounds[end]`` is min(r, r²/gap): r = ‖H y − θ y‖ bounds |θ − λ| for some eigenvalue
    λ (exact), and r²/gap is the sharper Kato–Temple bound with the gap to the next Ritz value standing in
    for the gap to the next eigenvalue (an estimate: the usual one in Lanczos codes).
    """

    values: dict[str, float]
    bounds: dict[str, float]
    vectors: dict[str, torch.Tensor]
    iterations: int  # = matvecs (HVPs)
    converged: bool


def _end_bound(values: torch.Tensor, vectors: torch.Tensor, beta: float, end: str) -> tuple[float, float]:
    """(Ritz value, error bound min(r, r²/gap)) at ``end`` of the current tridiagonal's spectrum."""
    index, neighbour = (-1, -2) if end == "max" else (0, 1)
    theta, residual = float(values[index]), abs(beta * float(vectors[-1, index]))
    if values.numel() < 2:
        return theta, residual
    gap = abs(theta - float(values[neighbour]))
    return theta, min(residual, residual**2 / gap) if gap > 0 else residual


def extreme_eigenvalues(matvec: Matvec, dim: int, ends: tuple[str, ...] = ("max",), tol: float = 1e-3,
                        iters: int = 100, seed: int = 0, device: torch.device | str = "cpu") -> Extremes:
    """Lanczos (full reorthogonalisation, float64) for only the extreme eigenvalue(s) in ``ends``.

    Checks after every matvec and stops once each asked end's error bound (:class:`Extremes`) is at most
    ``tol`` × |its Ritz value|, after ``iters`` matvecs, or when the Krylov space is exhausted (then the
    values are exact). Each matvec is one HVP: on the top eigenvalue this needs fewer of them than power
    iteration at equal accuracy (Lanczos converges at the rate of Chebyshev acceleration, power iteration
    at (λ₂/λ₁)^k), and the stop is on an error bound rather than on two successive estimates agreeing."""
    def done(j: int, beta: float, values: torch.Tensor, vectors: torch.Tensor) -> bool:
        return all(bound <= tol * abs(theta) for theta, bound in
                   (_end_bound(values, vectors, beta, end) for end in ends))

    basis, _, betas, values, vectors, converged = _krylov(matvec, dim, iters, None, seed, device, done)
    found = {end: _end_bound(values, vectors, betas[-1], end) for end in ends}
    return Extremes({end: theta for end, (theta, _) in found.items()},
                    {end: bound for end, (_, bound) in found.items()},
                    {end: basis.T @ vectors[:, -1 if end == "max" else 0] for end in ends},
                    basis.shape[0], converged)


@dataclass
class ExactSpectrum:
    """Every eigenvalue (ascending) and eigenvector (columns) of the Hessian, and the Hessian itself."""

    values: torch.Tensor
    vectors: torch.Tensor
    hessian: torch.Tensor


def exact_spectrum(objective: Objective) -> ExactSpectrum:
    """``eigh`` of the Hessian built from d batched HVPs (float64)."""
    hessian = objective.hessian()
    values, vectors = torch.linalg.eigh(hessian)
    return ExactSpectrum(values, vectors, hessian)


def group_lambda_max(objective: Objective, iters: int = 40, tol: float = 1e-4, seed: int = 0,
                     hessian: torch.Tensor | None = None) -> dict[str, float]:
    """λ_max of each parameter tensor's diagonal Hessian block H[g, g] (per layer, per named tensor).

    From the exact Hessian when given, else by Lanczos on v ↦ (H [0, v, 0])[g]: each iteration is one
    full HVP, so this costs up to ``iters`` HVPs per tensor.
    """
    out = {}
    for name, block in objective.groups.items():
        if hessian is not None:
            out[name] = float(torch.linalg.eigvalsh(hessian[block, block])[-1])
            continue
        size = block.stop - block.start

        def matvec(v: torch.Tensor, block: slice = block) -> torch.Tensor:
            full = torch.zeros(objective.dim, dtype=objective.theta.dtype, device=objective.theta.device)
            full[block] = v.to(full.dtype)
            return objective.hvp(full)[block]

        result = lanczos(matvec, size, iters, tol, seed=seed, device=objective.theta.device)
        out[name] = float(result.ritz_values[-1])
    return out


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


def deflated_trace(objective: Objective, basis: torch.Tensor, basis_trace: float, probes: int = 32,
                   seed: int = 0) -> TraceEstimate:
    """tr(H) = tr(QᵀHQ) + tr(PHP) with P = I − QQᵀ: the Krylov part exactly, the rest by Hutchinson.

    ``basis`` is an orthonormal Q (k, d) and ``basis_trace`` = tr(QᵀHQ) (the Lanczos run's sum of α, i.e.
    of its Ritz values). Unbiased like plain Hutchinson (tr(QQᵀHP) = 0), with the variance of the
    residual operator PHP only: the dominant eigendirections Lanczos found no longer add noise
    (Hutch++, Meyer et al. 2021, with the Krylov basis as the sketch). Same HVP count as plain Hutchinson.
    """
    if probes < 2:
        raise SpecError(f"Hutchinson needs at least 2 probes for a standard error, got {probes}")
    g = torch.Generator().manual_seed(seed)
    z = (torch.randint(0, 2, (probes, objective.dim), generator=g) * 2 - 1).double().to(basis.device)
    residual = z - (z @ basis.T) @ basis
    samples = (objective.hvp_many(residual.to(objective.theta.dtype)).double() * residual).sum(dim=1)
    return TraceEstimate(basis_trace + float(samples.mean()), float(samples.std() / math.sqrt(probes)), probes)


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

    def fraction_below(self, threshold: float) -> float:
        """The quadrature's estimate of the fraction of eigenvalues below ``threshold``."""
        return float(sum(w for x, w in zip(self.nodes, self.weights, strict=True) if x < threshold))

    def fraction_above(self, threshold: float) -> float:
        """The quadrature's estimate of the fraction of eigenvalues above ``threshold``."""
        return float(sum(w for x, w in zip(self.nodes, self.weights, strict=True) if x > threshold))


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

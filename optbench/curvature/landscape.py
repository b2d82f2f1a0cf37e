"""Loss-landscape slices around a point: 1-D lines, 2-D planes, the trajectory's plane, interpolation.

This module owns :class:`LandscapeSettings` (``optbench landscape --settings`` and ``--diagnose
landscape=true``) and :func:`landscape`, which evaluates a task's mean loss on a fixed evaluation batch
(a seeded subset of the training examples, as the diagnosis uses) at points θ + Σ tᵢ uᵢ:

- **lines** through θ along the unit eigenvectors of λ_max and λ_min (Lanczos, or eigh for small models),
  with the second-order Taylor model f + (gᵀu) t + ½ λ t² beside them (½ λ t² at a critical point) and the
  second derivative measured at t = 0 by a Richardson-extrapolated central difference in float64 with a
  step of 5 % of the radius. A ReLU network's loss has kinks the Hessian does not see (it is the derivative
  almost everywhere): a second difference over a step that crosses some of them measures them too, and
  one over a tiny step is dominated by the few it happens to cross; at 5 % of the radius they average out
  into the curvature the line actually has, which is what the figure shows;
- a **plane** through θ spanned by two filter-normalised random directions (Li et al. 2018: each row of a
  ≥2-D weight, i.e. each output filter, rescaled to that row's norm in θ; 1-D tensors, biases and
  batch-norm scales/shifts, are set to zero as Li's default does; a model with only 1-D tensors gets each
  tensor rescaled as one filter), by the top two eigenvectors, or by the first two coordinate axes;
- the **trajectory plane** of the first two principal components of weight snapshots, centred at the last
  one, with the snapshots projected on it (the snapshots come from :mod:`.landscape_stored`'s replay);
- the **interpolation** (1 − α) θ_init + α θ_final (Goodfellow et al. 2015).

Every coordinate is in parameter-space units (the directions are orthonormal), so a plotted distance is a
distance in ℝᵈ. Buffers (batch-norm running statistics) are the centre model's everywhere; the model is in
eval mode. Evaluation is batched: ``chunk`` grid points per ``vmap``-ed ``functional_call`` under
``no_grad``, each chunk's points built from the coordinates on the fly, so memory is flat in grid size.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.func import vmap
from torch.utils._pytree import tree_map

from optbench.curvature.objective import Objective, eval_mode, example_indices
from optbench.curvature.spectrum import exact_spectrum, lanczos
from optbench.errors import SpecError
from optbench.tasks.base import Task

PLANES = ("auto", "random", "eigen", "axes")
CURVATURE_STEP = 0.05  # f''(0)'s difference step, relative to the lines' radius (see the module docstring)


@dataclass
class LandscapeSettings:
    """What to slice and how finely (``K=V`` settings; every distance in parameter-space units)."""

    examples: int | None = 4096  # the fixed evaluation batch: a seeded subset of the training examples
    line_points: int = 41  # points of each 1-D line (odd: t = 0 is one of them)
    grid: int = 21  # points per side of each 2-D plane
    radius: float | None = None  # half-width of the lines and the eigen/axes plane; auto: see _radius
    plane: str = "auto"  # random (filter-normalised) | eigen | axes; auto: axes for d = 2, else random
    span: float = 1.0  # half-width of the random plane in Li's units (1 = one filter-norm)
    trajectory: bool = True  # the PCA plane of the training trajectory (needs snapshots: a replay)
    snapshots: int = 40  # weight snapshots taken along the replayed training
    interpolation_points: int = 29  # α from −0.2 to 1.2
    lanczos_iters: int = 80
    lanczos_tol: float = 1e-4
    exact_max_params: int = 3000
    chunk: int = 16  # grid points per batched forward pass
    seed: int = 0  # the random directions' seed

    def validate(self, option: str = "--settings") -> None:
        for name, low in (("line_points", 5), ("grid", 3), ("snapshots", 3), ("interpolation_points", 3),
                          ("lanczos_iters", 2), ("exact_max_params", 0), ("chunk", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SpecError(f"{option}: {name} must be an integer >= {low}, got {value!r}")
        if self.examples is not None and (isinstance(self.examples, bool) or not isinstance(self.examples, int)
                                          or self.examples < 1):
            raise SpecError(f"{option}: examples must be an integer >= 1 or none, got {self.examples!r}")
        for name in ("radius", "span", "lanczos_tol"):
            value = getattr(self, name)
            if value is None and name == "radius":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise SpecError(f"{option}: {name} must be a positive number, got {value!r}")
        if self.plane not in PLANES:
            raise SpecError(f"{option}: plane must be one of {', '.join(PLANES)}, got {self.plane!r}")
        if not isinstance(self.trajectory, bool):
            raise SpecError(f"{option}: trajectory must be true or false, got {self.trajectory!r}")


# ------------------------------------------------------------------------------------------------
# batched evaluation
# ------------------------------------------------------------------------------------------------

class Evaluator:
    """f(θ₀ + coords @ basis) for many coordinate rows, in chunks of batched forward passes."""

    def __init__(self, objective: Objective, chunk: int = 16):
        self.objective, self.chunk = objective, chunk
        self.evaluations = 0

    def __call__(self, origin: torch.Tensor, basis: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Losses (float64) at origin + coords @ basis; ``basis`` (k, d), ``coords`` (m, k)."""
        objective = self.objective
        basis = basis.to(objective.theta)
        coords = coords.to(objective.theta)
        total = torch.zeros(coords.shape[0], dtype=torch.float64)
        self.evaluations += coords.shape[0]
        with torch.no_grad(), eval_mode(objective.model):
            # the objective's own chunk loss and batches: the same loss, examples and weights as the diagnosis
            for batch, weight in objective._batches():
                for start in range(0, coords.shape[0], self.chunk):
                    points = origin.to(objective.theta) + coords[start:start + self.chunk] @ basis
                    total[start:start + points.shape[0]] += weight * self._losses(points, batch).double().cpu()
        return total

    def _losses(self, points: torch.Tensor, batch: Any) -> torch.Tensor:
        try:
            return vmap(lambda theta: self.objective._chunk_loss(theta, batch))(points)
        except (RuntimeError, NotImplementedError, ValueError):  # a task loss vmap cannot batch: one by one
            return torch.stack([self.objective._chunk_loss(theta, batch) for theta in points])


# ------------------------------------------------------------------------------------------------
# directions
# ------------------------------------------------------------------------------------------------

@dataclass
class Eigen:
    """The two ends of the spectrum (unit vectors) and the top two eigenpairs, by the method named."""

    method: str
    top: tuple[float, torch.Tensor]
    bottom: tuple[float, torch.Tensor]
    second: tuple[float, torch.Tensor] | None
    hvps: int


def eigen_directions(objective: Objective, settings: LandscapeSettings) -> Eigen:
    """λ_max, λ_min and the second largest eigenpair: eigh for small models, else Lanczos (top_k = 2)."""
    before = objective.counts["hvp"]
    if objective.dim <= settings.exact_max_params:
        spectrum = exact_spectrum(objective)
        values, vectors = spectrum.values, spectrum.vectors
        second = (float(values[-2]), vectors[:, -2]) if objective.dim > 1 else None
        return Eigen("exact", (float(values[-1]), vectors[:, -1]), (float(values[0]), vectors[:, 0]), second,
                     objective.counts["hvp"] - before)
    result = lanczos(objective.hvp, objective.dim, settings.lanczos_iters, settings.lanczos_tol,
                     seed=settings.seed, device=objective.theta.device, top_k=2)
    assert result.top_values is not None and result.top_vectors is not None
    second = (float(result.top_values[1]), result.top_vectors[1]) if len(result.top_values) > 1 else None
    return Eigen("lanczos", (float(result.ritz_values[-1]), result.max_vector),
                 (float(result.ritz_values[0]), result.min_vector), second, objective.counts["hvp"] - before)


def _unit(v: torch.Tensor) -> torch.Tensor:
    v = v.double()
    return v / torch.linalg.vector_norm(v).clamp_min(1e-300)


def filter_normalised(objective: Objective, generator: torch.Generator) -> tuple[torch.Tensor, list[str]]:
    """A random direction with each row of every ≥2-D tensor scaled to that row's norm in θ (Li et al.).

    1-D tensors (biases, batch-norm affine) are zero, as in Li et al.'s default; when every tensor is
    1-D (toy surfaces, the quadratic) each tensor is rescaled to its own norm instead, and a note says so.
    """
    pieces = objective.theta.double().split(objective.numels)
    shapes = objective.shapes
    has_filters = any(len(shape) >= 2 for shape in shapes)
    out = []
    for piece, shape in zip(pieces, shapes, strict=True):
        d = torch.randn(piece.numel(), generator=generator, dtype=torch.float64)
        if len(shape) >= 2:
            rows, weights = d.view(shape[0], -1), piece.view(shape[0], -1)
            d = (rows * (weights.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(1e-300)))
        elif has_filters:
            d = torch.zeros_like(d)
        else:
            d = d * piece.norm() / d.norm().clamp_min(1e-300)
        out.append(d.reshape(-1))
    notes = [] if has_filters else ["no ≥2-D weight: each 1-D tensor was rescaled as one filter"]
    return torch.cat(out), notes


def _orthonormal(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(u/‖u‖, v's unit part orthogonal to u, cos(u, v) before): axes of a plane in parameter units."""
    u = _unit(u)
    cosine = float(u @ _unit(v))
    v = v.double() - (v.double() @ u) * u
    return u, _unit(v), cosine


# ------------------------------------------------------------------------------------------------
# slices
# ------------------------------------------------------------------------------------------------

def _radius(settings: LandscapeSettings, loss: float, eigen: Eigen) -> float:
    """The lines' half-width: the quadratic model of the sharper end rises by max(|f|, 1) at its ends."""
    if settings.radius is not None:
        return float(settings.radius)
    sharpest = max(abs(eigen.top[0]), abs(eigen.bottom[0]), 1e-12)
    return math.sqrt(2 * max(abs(loss), 1.0) / sharpest)


class _Float64Objective(Objective):
    """The same loss on the same examples with the model and the batches' floating tensors in float64."""

    def _batches(self) -> Iterator[tuple[Any, float]]:
        for batch, weight in super()._batches():
            yield tree_map(lambda t: t.double() if isinstance(t, torch.Tensor) and t.is_floating_point() else t,
                           batch), weight


def float64_evaluator(evaluate: Evaluator) -> Evaluator:
    """An evaluator in float64 (for second differences), or ``evaluate`` itself if the task cannot run so."""
    objective = evaluate.objective
    indices = torch.cat([chunk for chunk, _ in objective.chunks])
    try:
        precise = _Float64Objective(objective.task, copy.deepcopy(objective.model).double(), indices,
                                    chunk_size=len(objective.chunks[0][0]))
        precise.loss()
    except (RuntimeError, TypeError, ValueError):  # a task that insists on its own dtype
        return evaluate
    return Evaluator(precise, evaluate.chunk)


def curvature_at_zero(evaluate: Evaluator, theta: torch.Tensor, u: torch.Tensor, h: float) -> float:
    """f'' at t = 0 along u: central differences at h and h/2, Richardson-extrapolated (error O(h⁴)).

    Meant for a float64 evaluator: in float32 the loss's rounding error is amplified by 1/h².
    """
    values = evaluate(theta, u[None], torch.tensor([[-h], [-h / 2], [0.0], [h / 2], [h]], dtype=torch.float64))
    d_h = (values[4] - 2 * values[2] + values[0]) / h**2
    d_half = (values[3] - 2 * values[2] + values[1]) / (h / 2) ** 2
    return float((4 * d_half - d_h) / 3)


def line(evaluate: Evaluator, theta: torch.Tensor, gradient: torch.Tensor, loss: float, key: str, name: str,
         eigenpair: tuple[float, torch.Tensor], radius: float, points: int,
         precise: Evaluator | None = None) -> dict[str, Any]:
    """The loss along θ + t u, t ∈ [−radius, radius], beside its second-order Taylor model."""
    value, vector = eigenpair
    u = _unit(vector)
    t = torch.linspace(-radius, radius, points, dtype=torch.float64)
    measured = evaluate(theta, u[None], t[:, None])
    slope = float(gradient.double() @ u)
    quadratic = loss + slope * t + 0.5 * value * t**2
    precise = precise or evaluate
    step = radius * CURVATURE_STEP
    measured_curvature = curvature_at_zero(precise, theta, u, step)
    return {"key": key, "name": name, "eigenvalue": value, "slope": slope, "t": t.tolist(),
            "loss": measured.tolist(), "quadratic": quadratic.tolist(), "curvature_at_0": measured_curvature,
            "curvature_step": step, "curvature_dtype": str(precise.objective.theta.dtype).removeprefix("torch.")}


def plane(evaluate: Evaluator, theta: torch.Tensor, u: torch.Tensor, v: torch.Tensor, x: torch.Tensor,
          y: torch.Tensor, **info: Any) -> dict[str, Any]:
    """The loss on θ + x u + y v over the grid x × y (rows: y); u, v orthonormal."""
    grid_x, grid_y = torch.meshgrid(x, y, indexing="xy")
    coords = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    values = evaluate(theta, torch.stack([u, v]), coords).view(len(y), len(x))
    return {"x": x.tolist(), "y": y.tolist(), "loss": values.tolist(), **info}


def _symmetric(half: float, n: int) -> torch.Tensor:
    return torch.linspace(-half, half, n, dtype=torch.float64)


def _plane_kind(settings: LandscapeSettings, dim: int) -> str:
    if settings.plane != "auto":
        return settings.plane
    return "axes" if dim == 2 else "random"


def chosen_plane(evaluate: Evaluator, theta: torch.Tensor, eigen: Eigen | None, settings: LandscapeSettings,
                 radius: float) -> dict[str, Any]:
    """(b): the plane of two filter-normalised random directions, of the top two eigenvectors, or of axes."""
    kind, n, dim = _plane_kind(settings, theta.numel()), settings.grid, theta.numel()
    if dim < 2:
        raise SpecError("a plane needs at least 2 parameters")
    notes: list[str] = []
    if kind == "random":
        generator = torch.Generator().manual_seed(settings.seed)
        d1, notes = filter_normalised(evaluate.objective, generator)
        d2, _ = filter_normalised(evaluate.objective, generator)
        u, v, cosine = _orthonormal(d1, d2)
        scale = (float(d1.norm()), float(d2.norm()))  # α = ±1 in Li et al.'s units, in parameter units
        notes.append(f"random directions (seed {settings.seed}) had cosine {cosine:.2g}; the second was "
                     "orthogonalised to the first")
        x, y = _symmetric(settings.span * scale[0], n), _symmetric(settings.span * scale[1], n)
        return plane(evaluate, theta, u, v, x, y, key="random", x_name="filter-normalised random direction 1",
                     y_name="filter-normalised random direction 2", filter_norms=list(scale), notes=notes)
    if kind == "eigen":
        if eigen is None or eigen.second is None:
            raise SpecError("plane=eigen needs two eigenvectors")
        u, v, _ = _orthonormal(eigen.top[1], eigen.second[1])
        return plane(evaluate, theta, u, v, _symmetric(radius, n), _symmetric(radius, n), key="eigen",
                     x_name=f"eigenvector of λ₁ = {eigen.top[0]:.4g}",
                     y_name=f"eigenvector of λ₂ = {eigen.second[0]:.4g}", notes=notes)
    u, v = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dtype=torch.float64)
    u[0], v[1] = 1.0, 1.0
    names = [*evaluate.objective.groups][:1]
    label = f"{names[0]}[0]" if names else "θ[0]"
    return plane(evaluate, theta, u, v, _symmetric(radius, n), _symmetric(radius, n), key="axes",
                 x_name=f"coordinate axis {label}", y_name=f"coordinate axis {label.replace('[0]', '[1]')}",
                 notes=notes)


def trajectory_plane(evaluate: Evaluator, snapshots: torch.Tensor, steps: list[int], grid: int) -> dict[str, Any]:
    """(c): the plane of the first two principal components of the snapshots, centred at the last one.

    As Li et al. do, the matrix is the snapshots minus the final weights (n, d); its two leading right
    singular vectors span the plane, the snapshots are projected on it, and the grid covers them with a
    margin of 15 %. ``explained`` is each component's share of the squared distances to the end.
    """
    end = snapshots[-1].double()
    centred = snapshots.double() - end
    _, singular, right = torch.linalg.svd(centred, full_matrices=False)
    u, v = right[0], right[1]
    path = centred @ torch.stack([u, v]).T
    if float(path[0] @ torch.tensor([1.0, 0.0], dtype=torch.float64)) > 0:  # the walk runs left to right
        u, path = -u, path * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    energy = float((singular**2).sum()) or 1.0
    explained = [float(s**2) / energy for s in singular[:2]]
    lows, highs = path.min(dim=0).values.clamp(max=0), path.max(dim=0).values.clamp(min=0)
    margins = 0.15 * (highs - lows).clamp_min(1e-12)
    x = torch.linspace(float(lows[0] - margins[0]), float(highs[0] + margins[0]), grid, dtype=torch.float64)
    y = torch.linspace(float(lows[1] - margins[1]), float(highs[1] + margins[1]), grid, dtype=torch.float64)
    result = plane(evaluate, end, u, v, x, y, key="pca", x_name=f"PC1 ({100 * explained[0]:.1f} % of the walk)",
                   y_name=f"PC2 ({100 * explained[1]:.1f} % of the walk)", explained=explained, notes=[])
    path_loss = evaluate(end, torch.stack([u, v]), path)
    result["trajectory"] = {"x": path[:, 0].tolist(), "y": path[:, 1].tolist(), "steps": list(steps),
                            "loss_in_plane": path_loss.tolist(),
                            "off_plane": (centred - path @ torch.stack([u, v])).norm(dim=1).tolist()}
    return result


def interpolation(evaluate: Evaluator, start: torch.Tensor, end: torch.Tensor, points: int) -> dict[str, Any]:
    """(d): the loss on (1 − α) θ_init + α θ_final, α from −0.2 to 1.2 (Goodfellow et al. 2015)."""
    alpha = torch.linspace(-0.2, 1.2, points, dtype=torch.float64)
    step = end.double() - start.double()
    distance = float(step.norm())
    values = evaluate(start, _unit(step)[None], (alpha * distance)[:, None])
    return {"alpha": alpha.tolist(), "distance": (alpha * distance).tolist(), "loss": values.tolist(),
            "init_to_final": distance}


def flat_weights(model: nn.Module) -> torch.Tensor:
    """A model's trainable parameters as one vector, in :class:`Objective`'s order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def landscape(task: Task, model: nn.Module, seed: int, settings: LandscapeSettings | None = None,
              init: torch.Tensor | None = None, snapshots: torch.Tensor | None = None,
              steps: list[int] | None = None) -> dict[str, Any]:
    """Every slice around ``model``'s weights (JSON-ready): lines, a plane, the trajectory plane, interpolation.

    ``init``: the initial weights (flat) for the interpolation; ``snapshots`` (n, d) and their ``steps``:
    the trajectory for its PCA plane. A slice whose inputs are missing is left out with a note.
    """
    settings = settings or LandscapeSettings()
    started = time.perf_counter()
    device = next(model.parameters()).device
    objective = Objective(task, model, example_indices(task, settings.examples, seed, device))
    evaluate = Evaluator(objective, settings.chunk)
    theta = objective.theta.double()
    loss, gradient = objective.loss_and_gradient()
    eigen = eigen_directions(objective, settings)
    radius = _radius(settings, loss, eigen)
    precise = float64_evaluator(evaluate)
    lines = [line(evaluate, theta, gradient, loss, "top", f"eigenvector of λ_max = {eigen.top[0]:.4g}", eigen.top,
                  radius, settings.line_points, precise),
             line(evaluate, theta, gradient, loss, "bottom", f"eigenvector of λ_min = {eigen.bottom[0]:.4g}",
                  eigen.bottom, radius, settings.line_points, precise)]
    planes = [chosen_plane(evaluate, theta, eigen, settings, radius)]
    notes = []
    if snapshots is not None and snapshots.shape[0] >= 3:
        planes.append(trajectory_plane(evaluate, snapshots, steps or list(range(len(snapshots))), settings.grid))
    else:
        notes.append("no trajectory plane: it needs weight snapshots along the training "
                     "(`optbench landscape STORE TRIAL` replays the training to take them)")
    interp = interpolation(evaluate, init, theta, settings.interpolation_points) if init is not None else None
    return {"loss": loss, "grad_norm": float(gradient.norm()), "params": objective.dim,
            "examples": objective.n_examples, "method": eigen.method, "lambda_max": eigen.top[0],
            "lambda_min": eigen.bottom[0], "radius": radius, "lines": lines, "planes": planes,
            "interpolation": interp, "settings": asdict(settings), "notes": notes,
            "cost": {"hvps": eigen.hvps, "loss_evaluations": evaluate.evaluations,
                     "seconds": time.perf_counter() - started}}


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks up to 1 GiB instead of returning them to the OS (True when it did).

    Each batched forward pass allocates activations of tens of MiB; glibc serves blocks that size with
    fresh mmaps, so every one of them page-faults in anew, which costs more than the ReLU between the
    matmuls (phoneme medium, 4096 frames, 48 points in chunks of 16, 2 threads, load ~6 on 2 cores: 78 ms a
    point with it, 128 without; one unpaired run each). Process-wide, so only the
    ``optbench landscape`` command (a process of its own) calls it, never the functions of this module.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mmap_threshold, trim_threshold = -3, -1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD in <malloc.h>
        return bool(libc.mallopt(mmap_threshold, 1 << 30)) and bool(libc.mallopt(trim_threshold, 1 << 30))
    except (OSError, AttributeError):  # not glibc (macOS, musl): the defaults stay
        return False

"""Benchmark: CPU time per Hessian-vector product, optbench vs a straight double-backward baseline.

In one run, on the phoneme MLP's medium shape (429 → 256 → 256 → 256 → 41, 252,201 parameters, random frames,
a seeded subset of 4096 examples as the runner's default diagnosis uses):

- baseline: PyHessian's recipe, ``g = autograd.grad(loss, params, create_graph=True)`` once, then each
  HVP is ``autograd.grad(g, params, v, retain_graph=True)`` on the model's own parameter list;
- optbench ``Objective.hvp`` with ``hvp_method="auto"`` (reuse-graph: the examples fit in one chunk);
- optbench forward-over-reverse (the previous default: recomputes forward and gradient per HVP);
- optbench chunked (chunks of 1024: bounded memory, per-chunk double backward and forward-over-reverse);
- the default end-of-trial diagnosis (``DiagnoseSettings()``), wall and CPU seconds, HVP count, with the
  new default HVPs and with the previous default (forward-over-reverse), as a CPU ratio.

HVP timings are interleaved (A B, B A, ...) and reported as the median and spread of paired ratios to
the baseline, with ``os.getloadavg()`` before and after. Threads are pinned (``--threads``, default 1).

    python benchmarks/curvature_hvp.py [--repeats 7] [--threads 1] [--examples 4096]

``--lambda-max`` measures instead λ_max alone (``--diagnose only=lambda_max``) against PyHessian's power
iteration, in HVPs and relative error against a reference λ_max (Lanczos to a 1e-10 bound): PyHessian
itself (``hessian(...).eigenvalues(tol=...)``, its HVPs counted) when ``pyhessian`` is importable (it is not
a dependency: ``pip install pyhessian``), else its algorithm as its paper and code state it (v ← Hv/‖Hv‖,
λ = vᵀHv, stop when two successive λ differ by < tol relative), here on optbench's HVP; and, at equal
accuracy, the HVPs that power iteration needs to be as close to the reference as optbench's answer.

    python benchmarks/curvature_hvp.py --lambda-max [--examples 1024] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from optbench.curvature import DiagnoseSettings, Objective, diagnose, example_indices
from optbench.tasks.base import Task


class RandomFramesMLP(Task):
    """The phoneme task's medium MLP (``phoneme.model.build``) on random 429-dim frames with 41 classes."""

    def __init__(self, n: int = 16_384, features: int = 429, classes: int = 41):
        g = torch.Generator().manual_seed(0)
        self.n_train, self.features, self.classes = n, features, classes
        self.x = torch.randn(n, features, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def init_model(self, seed: int) -> nn.Module:
        from optbench.tasks.phoneme.model import PRESETS, build

        torch.manual_seed(seed)
        return build(PRESETS["medium"])

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch[0]), batch[1])


def baseline_hvp(task: Task, model: nn.Module, indices: torch.Tensor) -> Callable[[torch.Tensor], None]:
    """PyHessian's HVP: one gradient graph, then one double backward per product."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = task.loss(model, task.train_batch(indices))
    grads = torch.autograd.grad(loss, params, create_graph=True)

    def product(v: torch.Tensor) -> None:
        pieces = [piece.view_as(p) for piece, p in zip(v.split([p.numel() for p in params]), params, strict=True)]
        torch.autograd.grad(grads, params, pieces, retain_graph=True)

    return product


def cpu_seconds(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def paired_ratios(candidates: dict[str, Callable[[], object]], baseline: Callable[[], object],
                  repeats: int) -> dict[str, dict[str, float]]:
    """Interleaved CPU seconds; for each candidate the median/min/max of its ratio to the baseline."""
    for fn in (baseline, *candidates.values()):
        fn()  # warm-up: allocation, graph building, torch.func tracing
    ratios: dict[str, list[float]] = {name: [] for name in candidates}
    base_times = []
    for repeat in range(repeats):
        for name, fn in candidates.items():
            if repeat % 2:  # ABBA order: neither side always runs right after the other's allocations
                candidate, base = cpu_seconds(fn), cpu_seconds(baseline)
            else:
                base, candidate = cpu_seconds(baseline), cpu_seconds(fn)
            base_times.append(base)
            ratios[name].append(candidate / base)
    out = {"baseline": {"median_cpu_s": statistics.median(base_times)}}
    for name, values in ratios.items():
        out[name] = {"median_ratio": statistics.median(values), "min_ratio": min(values), "max_ratio": max(values)}
    return out


def timed_diagnosis(task: Task, model: nn.Module, examples: int, hvp_method: str) -> dict[str, object]:
    """The runner's default end-of-trial diagnosis (DiagnoseSettings' values) with ``hvp_method``."""
    settings = DiagnoseSettings(examples=examples)
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    result = diagnose(task, model, settings.examples, 0, exact_max_params=settings.exact_max_params,
                      lanczos_iters=settings.lanczos_iters, trace_probes=settings.trace_probes,
                      eps_steps=settings.eps_steps, hvp_method=hvp_method)
    wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "hvps": result.cost["hvps"], "gradients": result.cost["gradients"], "method": result.method,
            "lambda_min": result.lambda_min, "lambda_max": result.lambda_max, "trace": result.trace,
            "load_avg_after": os.getloadavg()}


def power_iteration(hvp: Callable[[torch.Tensor], torch.Tensor], dim: int, tol: float | None,
                    reference: float | None = None, accuracy: float = 0.0, max_iter: int = 1000) -> tuple[float, int]:
    """PyHessian's power iteration (``hessian.eigenvalues``): (its estimate, HVPs). With ``reference``,
    run until the estimate is within ``accuracy`` of it instead of PyHessian's stopping rule."""
    torch.manual_seed(0)
    v = torch.randn(dim)
    v = v / v.norm()
    value = None
    for count in range(1, max_iter + 1):
        hv = hvp(v).float()
        estimate = float(hv @ v)
        v = hv / hv.norm()
        if reference is not None:
            if abs(estimate - reference) <= accuracy * abs(reference):
                return estimate, count
        elif value is not None and abs(value - estimate) / (abs(value) + 1e-6) < tol:
            return value, count  # PyHessian returns the previous estimate
        value = estimate
    return estimate, max_iter


def pyhessian_top(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], tol: float) -> tuple[float, int] | None:
    """PyHessian's own ``eigenvalues(tol=tol)`` and its HVP count, or None when it is not installed."""
    try:
        import importlib

        ph = importlib.import_module("pyhessian.hessian")  # the module (the package exports a class by its name)
    except ImportError:
        return None
    counted = {"hvps": 0}
    original = ph.hessian_vector_product

    def counting(*args: object) -> object:
        counted["hvps"] += 1
        return original(*args)

    ph.hessian_vector_product = counting
    try:
        torch.manual_seed(0)
        computer = ph.hessian(model, nn.functional.cross_entropy, data=batch, cuda=False)
        values, _ = computer.eigenvalues(maxIter=100, tol=tol)
    finally:
        ph.hessian_vector_product = original
    return float(values[0]), counted["hvps"]


def lambda_max_report(task: Task, model: nn.Module, examples: int) -> dict[str, object]:
    from optbench.curvature.spectrum import extreme_eigenvalues

    indices = example_indices(task, examples)
    objective = Objective(task, model, indices)
    reference = extreme_eigenvalues(objective.hvp, objective.dim, ("max",), tol=1e-10, iters=400).values["max"]
    rows = []
    for tol in (1e-3, 1e-4, 1e-5, 1e-6):
        counting = Objective(task, model, indices)
        cpu = time.process_time()
        ours = extreme_eigenvalues(counting.hvp, counting.dim, ("max",), tol=tol, iters=400)
        ours_cpu = time.process_time() - cpu
        error = abs(ours.values["max"] - reference) / abs(reference)
        cpu = time.process_time()
        real = pyhessian_top(model, task.train_batch(indices), tol)
        theirs, their_hvps = real if real is not None else power_iteration(objective.hvp, objective.dim, tol)
        their_cpu = time.process_time() - cpu
        _, equal = power_iteration(objective.hvp, objective.dim, None, reference, error)
        rows.append({"tol": tol, "optbench_hvps": ours.iterations, "optbench_rel_error": error,
                     "optbench_bound": ours.bounds["max"] / abs(reference),
                     "power_hvps": their_hvps, "power_rel_error": abs(theirs - reference) / abs(reference),
                     "power_hvps_at_optbench_error": equal, "cpu_ratio_optbench_vs_power": ours_cpu / their_cpu})
    return {"reference_lambda_max": reference, "power_iteration": "pyhessian" if real is not None else
            "PyHessian's algorithm, implemented here (pyhessian not installed)", "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--lambda-max", action="store_true", help="λ_max alone against power iteration")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.lambda_max:
        load_before = os.getloadavg()
        task = RandomFramesMLP()
        report = lambda_max_report(task, task.init_model(0), args.examples)
        print(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "examples": args.examples,
                          "threads": args.threads, **report, "load_avg_before": load_before,
                          "load_avg_after": os.getloadavg()}, indent=2, default=float))
        return
    load_before = os.getloadavg()
    task = RandomFramesMLP()
    model = task.init_model(0)
    indices = example_indices(task, args.examples)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0))
    baseline = baseline_hvp(task, model, indices)
    objectives = {
        "optbench_auto": Objective(task, model, indices),
        "optbench_forward_over_reverse": Objective(task, model, indices, hvp_method="forward-over-reverse"),
        "optbench_chunked_1024_double_backward": Objective(task, model, indices, 1024, "double-backward"),
        "optbench_chunked_1024_forward_over_reverse": Objective(task, model, indices, 1024),
    }
    candidates = {name: (lambda o=objective: o.hvp(v)) for name, objective in objectives.items()}
    hvps = paired_ratios(candidates, lambda: baseline(v), args.repeats)
    diagnoses = {"default": timed_diagnosis(task, model, args.examples, "auto"),
                 "previous_default_forward_over_reverse": timed_diagnosis(task, model, args.examples,
                                                                          "forward-over-reverse")}
    report = {
        "model": "phoneme medium MLP (429-256-256-256-41), random frames", "params": objectives["optbench_auto"].dim,
        "examples": len(indices), "threads": torch.get_num_threads(), "repeats": args.repeats,
        "hvp_cpu_vs_baseline": hvps,
        "diagnosis": diagnoses,
        "diagnosis_cpu_ratio_default_vs_previous": round(
            diagnoses["default"]["cpu_s"] / diagnoses["previous_default_forward_over_reverse"]["cpu_s"], 3),
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
    }
    print(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()

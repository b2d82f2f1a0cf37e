"""Benchmark: how long an end-of-trial curvature diagnosis of the default phoneme MLP takes on this machine.

Measures, in one run and on the same examples:

- baseline: one full gradient (forward + backward) of the mean loss over the diagnosis examples;
- one Hessian-vector product: forward-over-reverse (torch.func jvp of grad), double backward (both
  recompute the gradient), and reuse-graph (the default when the examples fit in one chunk);
- the whole :func:`optbench.curvature.diagnose` (Lanczos for λ_min and λ_max, Hutchinson trace, ε-sharpness,
  escape step), with its HVP and gradient counts, at its defaults and at the previous defaults (Lanczos
  tolerance 1e-5, 32 trace probes) as a ratio, with both runs' λ_min, λ_max and trace set against a tightly
  converged reference (``--reference-iters`` Lanczos iterations at tolerance 1e-9, 64 probes).

Figures are reported as seconds and as ratios to the baseline gradient. The model is the phoneme task's
``medium`` preset (429 → 256 → 256 → 41, ≈2.5·10⁵ parameters) after a short Adam warm-up; when the phoneme
task cannot be built, an MLP of the same shape on random data stands in (and the output says so).

    python benchmarks/curvature_diagnosis.py [--examples 4096] [--threads 2] [--reference-iters 200]
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

from optbench.curvature import Objective, diagnose, example_indices
from optbench.tasks.base import Task


class RandomFramesMLP(Task):
    """Stand-in with the phoneme MLP's shape: random 429-dim inputs, 41 classes."""

    def __init__(self, n: int = 65_536, features: int = 429, classes: int = 41, hidden: int = 256):
        g = torch.Generator().manual_seed(0)
        self.n_train, self.features, self.classes, self.hidden = n, features, classes, hidden
        self.x = torch.randn(n, features, generator=g)
        self.y = torch.randint(0, classes, (n,), generator=g)

    def init_model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(self.features, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.hidden),
                             nn.ReLU(), nn.Linear(self.hidden, self.classes))

    def train_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[indices], self.y[indices]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch[0]), batch[1])


def build_task() -> tuple[Task, str]:
    try:
        from optbench.tasks.phoneme.task import PhonemeTask

        return PhonemeTask(preset="medium"), "phoneme[preset=medium]"
    except Exception as exc:  # noqa: BLE001 - any failure to build the data falls back, and is reported
        return RandomFramesMLP(), f"random-frames MLP stand-in (phoneme unavailable: {type(exc).__name__}: {exc})"


def warm_up(task: Task, model: nn.Module, steps: int = 100, batch: int = 512) -> None:
    """A short Adam run so the point is a partly trained network rather than the initialisation."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        opt.zero_grad()
        task.loss(model, task.train_batch(torch.randint(0, task.n_train, (batch,), generator=g))).backward()
        opt.step()


def median_seconds(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()  # warm-up: first calls pay for allocation and torch.func tracing
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=4096, help="diagnosis examples (the runner's default)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--reference-iters", type=int, default=200, help="0: skip the accuracy reference")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    task, name = build_task()
    model = task.init_model(0)
    warm_up(task, model)
    indices = example_indices(task, args.examples)
    objective = Objective(task, model, indices, hvp_method="forward-over-reverse")
    v = torch.randn(objective.dim, generator=torch.Generator().manual_seed(0))
    gradient_s = median_seconds(objective.loss_and_gradient)
    fwd_s = median_seconds(lambda: objective.hvp(v))
    dbl_s = median_seconds(lambda: Objective(task, model, indices, hvp_method="double-backward").hvp(v))
    reuse = Objective(task, model, indices, hvp_method="reuse-graph")
    reuse_s = median_seconds(lambda: reuse.hvp(v))
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    result = diagnose(task, model, examples=args.examples)
    total_s = time.perf_counter() - started
    started = time.perf_counter()
    previous = diagnose(task, model, examples=args.examples, lanczos_tol=1e-5, trace_probes=32)
    previous_s = time.perf_counter() - started
    reference = diagnose(task, model, examples=args.examples, lanczos_iters=args.reference_iters, lanczos_tol=1e-9,
                         trace_probes=64, eps_steps=0) if args.reference_iters else None
    report = {
        "task": name, "params": objective.dim, "examples": objective.n_examples,
        "threads": torch.get_num_threads(), "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "gradient_s": round(gradient_s, 4),
        "hvp_forward_over_reverse_s": round(fwd_s, 4), "hvp_double_backward_s": round(dbl_s, 4),
        "hvp_reuse_graph_s": round(reuse_s, 4), "hvp_reuse_graph_over_gradient": round(reuse_s / gradient_s, 2),
        "hvp_over_gradient": round(fwd_s / gradient_s, 2),
        "double_backward_over_forward_over_reverse": round(dbl_s / fwd_s, 2),
        "diagnosis_s": round(total_s, 2), "diagnosis_over_gradient": round(total_s / gradient_s, 1),
        "previous_defaults_s": round(previous_s, 2), "diagnosis_over_previous_defaults": round(total_s / previous_s, 2),
        "hvps": result.cost["hvps"], "previous_hvps": previous.cost["hvps"], "gradients": result.cost["gradients"],
        "method": result.method, "verdict": result.verdict, "grad_norm": result.grad_norm,
        "eps_sharpness": result.eps_sharpness, "notes": result.notes, "previous_notes": previous.notes,
    }
    for label, run in (("default", result), ("previous", previous), ("reference", reference)):
        if run is not None:
            report[f"{label}_spectrum"] = {"lambda_min": run.lambda_min, "lambda_max": run.lambda_max,
                                           "trace": run.trace, "trace_stderr": run.trace_stderr}
    if reference is not None:
        for label, run in (("default", result), ("previous", previous)):
            report[f"{label}_relative_error"] = {
                key: round(abs(getattr(run, key) - getattr(reference, key)) / abs(getattr(reference, key)), 5)
                for key in ("lambda_min", "lambda_max", "trace")}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

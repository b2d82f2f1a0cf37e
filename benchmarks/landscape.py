"""Benchmark: a 21 × 21 loss-landscape plane of the phoneme ``medium`` MLP on 4,096 frames, and (``--sharpness``)
a small-batch vs large-batch pair sliced along its top eigenvector.

Speed: the plane through the initial weights of two filter-normalised random directions is evaluated by
:class:`optbench.curvature.landscape.Evaluator` (``chunk`` grid points per vmapped forward pass under
``no_grad``), against the baseline measured in the same run: the same model's plain forward pass and loss on
the same 4,096 frames, one point at a time (``--baseline-points`` after each row of the grid, so both
see the same load; per-point time scaled to the grid).
Memory: the process's peak RSS after a 5 × 5 grid and after the 21 × 21 grid (the points of a chunk are built
on the fly, so the second should not be higher). Load averages are printed before and after.

Sharpness (Keskar et al. 2017; the lecture's "small batch finds flatter minima"): the medium MLP trained with
SGD + momentum for ``--epochs`` at two batch sizes, then ``optbench landscape``'s lines at the final weights
on the same 4,096 frames: λ_max and the measured f''(0) of each, and the width of the top-eigenvector line
(the distance from the weights at which the measured loss first rises by ``--rise``). The sharper minimum by
λ_max should be the narrower one.

glibc's malloc keeps freed blocks (:func:`~optbench.curvature.landscape.keep_freed_memory`, what the command
does) unless ``--glibc-defaults``.

    python benchmarks/landscape.py [--threads 2] [--grid 21] [--chunk 16] [--glibc-defaults]
    python benchmarks/landscape.py --sharpness [--epochs 0.5] [--batch-sizes 64,4096]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np
import torch


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _plane_timing(args: argparse.Namespace) -> None:
    """Row by row: the batched row (``grid`` points), then ``--baseline-points`` plain forward passes, so the
    two share the machine's load (it moves by 2-4× within a minute on a shared machine)."""
    from optbench.curvature.landscape import Evaluator, LandscapeSettings, chosen_plane, filter_normalised
    from optbench.curvature.objective import Objective, example_indices
    from optbench.plan import TaskCache
    from optbench.registry import load_registry

    task = TaskCache(load_registry()).get("phoneme", {"preset": "medium"})
    model = task.init_model(0)
    objective = Objective(task, model, example_indices(task, 4096, 0))
    theta = objective.theta.double()
    evaluate = Evaluator(objective, args.chunk)
    chosen_plane(evaluate, theta, None, LandscapeSettings(grid=5, chunk=args.chunk, plane="random"), 1.0)  # warm-up
    rss_small = _peak_rss_mib()
    generator = torch.Generator().manual_seed(0)
    basis = torch.stack([filter_normalised(objective, generator)[0] for _ in range(2)])
    axis = torch.linspace(-1.0, 1.0, args.grid, dtype=torch.float64)
    batch = task.train_batch(example_indices(task, 4096, 0))
    grid_seconds = baseline_seconds = 0.0
    for y in axis:
        coords = torch.stack([axis, torch.full_like(axis, float(y))], dim=1)
        started = time.perf_counter()
        evaluate(theta, basis, coords)
        grid_seconds += time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(args.baseline_points):
                float(task.loss(model, batch))
            baseline_seconds += time.perf_counter() - started
    rss_large = _peak_rss_mib()
    points = args.grid**2
    per_point = baseline_seconds / (args.grid * args.baseline_points)
    flops = sum(2 * 4096 * m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    print(f"{args.grid}×{args.grid} plane, medium MLP ({objective.dim} parameters), 4096 frames, "
          f"{torch.get_num_threads()} threads, chunk {args.chunk}:")
    print(f"  batched: {grid_seconds:.2f} s ({1e3 * grid_seconds / points:.1f} ms a point, "
          f"{flops * points / grid_seconds / 1e9:.1f} GFLOP/s in its matmuls)")
    print(f"  baseline, one plain forward a point (interleaved by row): {1e3 * per_point:.1f} ms a point → "
          f"{per_point * points:.2f} s for the grid; batched / baseline = {grid_seconds / (per_point * points):.2f}")
    print(f"  peak RSS after 5×5: {rss_small:.0f} MiB, after {args.grid}×{args.grid}: {rss_large:.0f} MiB")


def _width(line: dict, rise: float) -> float:
    """The smallest |t| at which the measured loss exceeds its value at t = 0 by ``rise`` (inf: never)."""
    t, loss = np.asarray(line["t"]), np.asarray(line["loss"])
    centre = loss[len(loss) // 2]
    above = np.abs(t[loss > centre + rise])
    return float(above.min()) if above.size else float("inf")


def _sharpness(args: argparse.Namespace) -> None:
    import optbench
    from optbench.curvature.landscape import LandscapeSettings
    from optbench.curvature.landscape_stored import landscape_trial
    from optbench.store import load

    out = args.out or tempfile.mkdtemp(prefix="optbench-landscape-")
    optbench.run("phoneme", args.optim, batch_sizes=args.batch_sizes, seeds="0", epochs=args.epochs, out=out,
                 device="cpu", threads=args.threads)
    trials = load(out).trials.sort_values("batch_size_value")
    settings = LandscapeSettings(trajectory=False, grid=3, radius=args.radius, line_points=61)
    print(f"SGD {args.optim}, {args.epochs} epoch(s); lines on 4096 frames, t ∈ ±{args.radius} (parameter units):")
    for _, trial in trials.iterrows():
        document = landscape_trial(out, trial["trial_id"], settings=settings, threads=args.threads)
        top = next(line for line in document["lines"] if line["key"] == "top")
        print(f"  batch {int(trial['batch_size_value']):>5}: steps {int(trial['steps']):>5}, loss "
              f"{document['loss']:.4f}, λ_max {top['eigenvalue']:.4g}, f''(0) {top['curvature_at_0']:.4g} "
              f"({100 * (top['curvature_at_0'] / top['eigenvalue'] - 1):+.1f} %), width at +{args.rise}: "
              f"{_width(top, args.rise):.3g}")
    print(f"store: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grid", type=int, default=21)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--baseline-points", type=int, default=2)
    parser.add_argument("--sharpness", action="store_true", help="also the small- vs large-batch pair")
    parser.add_argument("--batch-sizes", default="64,4096")
    parser.add_argument("--epochs", type=float, default=0.5)
    parser.add_argument("--optim", default="momentum[lr=0.05,momentum=0.9]")
    parser.add_argument("--radius", type=float, default=1.0)
    parser.add_argument("--rise", type=float, default=0.1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--glibc-defaults", action="store_true",
                        help="leave glibc's malloc as it is (the command calls keep_freed_memory)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.glibc_defaults:
        from optbench.curvature.landscape import keep_freed_memory

        print(f"keep_freed_memory: {keep_freed_memory()}")
    print(f"load average before: {os.getloadavg()}")
    _plane_timing(args)
    if args.sharpness:
        _sharpness(args)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

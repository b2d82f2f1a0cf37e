"""Measure the execution backends on one toy-task grid: process pool speed-up and Ray overhead vs sequential.

Run: ``python benchmarks/parallel_backends.py [--steps 400] [--seeds 0-3]``. Every backend runs the same grid
into a fresh store; the wall time of ``execute`` is compared with the sequential run measured in the same
invocation (ratios, not absolute seconds, are the result). Worker start-up (spawning Python, importing torch)
is included, since a user pays it too; Ray's local cluster start is timed separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from optbench.study import execute, prepare

TASKS = "rosenbrock,himmelblau,saddle,quadratic[dim=10,n=128]"
OPTIMS = "sgd[lr=0.001],momentum[lr=0.001],adam[lr=0.01],rmsprop[lr=0.001]"


def timed_run(root: Path, name: str, steps: int, seeds: str, **backend: object) -> float:
    study = prepare(TASKS, OPTIMS, seeds=seeds, steps=steps, out=root / name, threads=1)
    started = time.perf_counter()
    execute(study, **backend)  # type: ignore[arg-type]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", default="0-3")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = len(prepare(TASKS, OPTIMS, seeds=args.seeds, steps=args.steps, out=root / "probe").configs)
        sequential = timed_run(root, "sequential", args.steps, args.seeds)
        print(f"grid: {n} trials × {args.steps} steps")
        print(f"sequential            {sequential:7.2f} s  1.00×")
        for workers in (1, 2):
            seconds = timed_run(root, f"process{workers}", args.steps, args.seeds, backend="process", workers=workers)
            print(f"process, {workers} worker(s)  {seconds:7.2f} s  speed-up {sequential / seconds:.2f}×")
        if not args.no_ray:
            import ray

            started = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
            print(f"ray cluster start     {time.perf_counter() - started:7.2f} s (not in the ratio below)")
            seconds = timed_run(root, "ray", args.steps, args.seeds, backend="ray")
            print(f"ray, 2 CPUs           {seconds:7.2f} s  time ratio vs sequential {seconds / sequential:.2f}×")
            ray.shutdown()


if __name__ == "__main__":
    main()

"""Measure the process pool against sequential execution *and* against what the machine can give 2 processes.

Run: ``python benchmarks/parallel_backends.py [--steps 400] [--seeds 0-1] [--repeats 3]``.

On a shared machine a raw speed-up means little: other jobs decide how much of a second core there is.
So each repeat measures, back to back,

1. the machine's 2-process capacity: a plain CPU-bound Python loop timed in 1 process, then in 2 at
   once (same work each); capacity = 2 · T1 / T2 (2.0 on two idle cores, ~1.0 when one core is busy);
2. the toy grid run sequentially, then on ``--workers 2`` (worker start-up included: a user pays it);
   speed-up = T_sequential / T_pool;

and reports the pool's efficiency = speed-up / capacity (target ≥ 0.9), with medians and the spread over
repeats, and the 1-minute load average before and after every repeat. The pool's start-up is estimated as
the delay of its first finished trial over the sequential run's first (spawning, importing torch, the registry).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from optbench.study import execute, prepare

TASKS = "rosenbrock,himmelblau,saddle,quadratic[dim=10,n=128]"
OPTIMS = "sgd[lr=0.001],momentum[lr=0.001],adam[lr=0.01],rmsprop[lr=0.001]"
LOOP = 6_000_000


def _spin(ready: Any, done: Any) -> None:
    ready.wait()  # every process is imported and waiting: only the loop is timed
    total = 0
    for i in range(LOOP):
        total += i * i % 7
    done.put(time.perf_counter())


def loop_seconds(processes: int) -> float:
    """Wall time for ``processes`` processes to each run the loop, from a common start signal."""
    context = multiprocessing.get_context("spawn")
    ready, done = context.Barrier(processes + 1), context.Queue()
    workers = [context.Process(target=_spin, args=(ready, done)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait()
    started = time.perf_counter()
    ends = [done.get() for _ in workers]
    for worker in workers:
        worker.join()
    return max(ends) - started


def grid_seconds(root: Path, name: str, steps: int, seeds: str, **backend: object) -> tuple[float, float]:
    """Wall time of the grid, and when its first trial came back (for the pool: start-up + one trial)."""
    study = prepare(TASKS, OPTIMS, seeds=seeds, steps=steps, out=root / name, threads=1)
    first: list[float] = []
    started = time.perf_counter()
    execute(study, lambda config, result: first.append(time.perf_counter()) if result and not first else None,
            **backend)  # type: ignore[arg-type]
    return time.perf_counter() - started, first[0] - started


def one_repeat(root: Path, index: int, steps: int, seeds: str) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    one, two = loop_seconds(1), loop_seconds(2)
    sequential, sequential_first = grid_seconds(root, f"seq{index}", steps, seeds)
    pool, pool_first = grid_seconds(root, f"pool{index}", steps, seeds, backend="process", workers=2)
    capacity, speedup = 2 * one / two, sequential / pool
    return {"load_before": load_before, "load_after": os.getloadavg()[0], "capacity": capacity,
            "speedup": speedup, "efficiency": speedup / capacity, "sequential_s": sequential, "pool_s": pool,
            "startup_s": pool_first - sequential_first}


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (range {min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = len(prepare(TASKS, OPTIMS, seeds=args.seeds, steps=args.steps, out=root / "probe").configs)
        print(f"grid: {n} trials × {args.steps} steps, threads 1 per process, {os.cpu_count()} cores")
        rows = []
        for index in range(args.repeats):
            row = one_repeat(root, index, args.steps, args.seeds)
            rows.append(row)
            print(f"repeat {index}: load {row['load_before']:.2f}→{row['load_after']:.2f}  capacity "
                  f"{row['capacity']:.2f}×  sequential {row['sequential_s']:.1f} s  2 workers {row['pool_s']:.1f} s"
                  f"  speed-up {row['speedup']:.2f}×  efficiency {row['efficiency']:.2f}"
                  f"  (pool start-up ≈ {row['startup_s']:.1f} s)")
        for key in ("capacity", "speedup", "efficiency"):
            print(f"{key:10s} {_summary([row[key] for row in rows])}")


if __name__ == "__main__":
    main()

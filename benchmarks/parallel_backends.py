"""Measure the process pool against sequential execution *and* against what the machine can give 2 processes.

Run: ``python benchmarks/parallel_backends.py [--steps 400] [--seeds 0-1] [--repeats 3] [--workers 2|auto]
[--busy]`` (``--workers auto`` times what auto chooses, printed per repeat; ``--busy`` keeps one CPU-bound
process running beside everything, the "one busy core" case)
(``--steps 400,2000`` measures each grid size in turn: the pool's start-up is a fixed cost, so its
share, and the efficiency, depend on how much work the grid holds).

On a shared machine a raw speed-up means little: other jobs decide how much of a second core there is.
So each repeat measures, back to back,

1. the machine's 2-process capacity: a plain CPU-bound Python loop timed in 1 process, then in 2 at
   once (same work each); capacity = 2 · T1 / T2 (2.0 on two idle cores, ~1.0 when one core is busy;
   each from the medians of 3 interleaved timings), measured before, between and after the grids and
   averaged (one short probe alone could miss a passing job, or catch one);
2. the toy grid run sequentially and on ``--workers 2``, each in a *fresh* Python process (so the pool's
   fork server starts cold, as it does for every ``optbench run``), timing ``prepare`` + ``execute``:
   what a user pays once optbench is imported, worker start-up included; the two runs alternate order
   between repeats (``--cli``: whole ``optbench run`` commands instead, interpreter start included);
   speed-up = T_sequential / T_pool;

and reports the pool's efficiency = speed-up / capacity (target ≥ 0.9), with medians and the spread over
repeats, and the 1-minute load average before and after every repeat. Beside it, Amdahl's bound for the
grid: the sequential run's serial part (its wall time minus its trials' summed wall time: imports,
planning, teardown, which no pool shortens) plus its trials run ``capacity`` at a time is the best any
pool can do; ``bound`` is that best as an efficiency, and ``of_bound`` how close the pool comes to it.
The pool's fixed start-up is stated separately: the delay of its first finished trial over the
sequential run's first (both from the start of ``prepare``), i.e. what starting the workers costs
beyond the sequential run's own first trial.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
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


def capacity_probe(rounds: int = 3) -> float:
    """2 · T1 / T2 from ``rounds`` interleaved 1- and 2-process timings (medians: one disturbed timing
    of a few hundred milliseconds would otherwise swing the figure past what 2 cores can give)."""
    singles, pairs = [], []
    for _ in range(rounds):
        singles.append(loop_seconds(1))
        pairs.append(loop_seconds(2))
    return 2 * statistics.median(singles) / statistics.median(pairs)


def grid_seconds(out: Path, steps: int, seeds: str, workers: int | str) -> dict[str, float]:
    """In this process: wall time of prepare + execute, and of prepare + the first finished trial."""
    first: list[float] = []
    started = time.perf_counter()
    study = prepare(TASKS, OPTIMS, seeds=seeds, steps=steps, out=out, threads=1, workers=workers)
    prepared = time.perf_counter()
    execute(study, lambda config, result: first.append(time.perf_counter()) if result and not first else None,
            workers=study.options.workers)  # ``auto``: what prepare decided
    ended = time.perf_counter()
    return {"total_s": ended - started, "first_s": first[0] - started, "prepare_s": prepared - started,
            "workers": study.options.workers}


def grid_in_fresh_process(out: Path, steps: int, seeds: str, workers: int | str, cli: bool) -> dict[str, float]:
    """:func:`grid_seconds` in a new interpreter (optbench imported before the clock starts), or with
    ``cli`` the whole ``optbench run`` command, interpreter start and imports included (no first-trial time)."""
    if cli:
        command = [sys.executable, "-m", "optbench", "run", "-q", "-t", TASKS, "-o", OPTIMS, "--seeds", seeds,
                   "--steps", str(steps), "--threads", "1", "--workers", str(workers), "--out", str(out)]
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, check=True)
        chosen = json.loads((out / "manifest.json").read_text())["runs"][-1]["config"]["workers"]
        return {"total_s": time.perf_counter() - started, "first_s": math.nan, "prepare_s": math.nan,
                "workers": chosen}
    command = [sys.executable, __file__, "--one", str(workers), "--steps", str(steps), "--seeds", seeds,
               "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def trials_seconds(out: Path) -> float:
    """The summed wall time of the trials in a store: the part of a sequential run that workers divide."""
    from optbench.store import Store

    return float(Store(out).read_trials()["wall_time"].sum())


def one_repeat(root: Path, index: int, steps: int, seeds: str, cli: bool = False,
               pool_workers: int | str = 2) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    order = (1, pool_workers) if index % 2 == 0 else (pool_workers, 1)
    probes, runs = [capacity_probe()], {}
    for workers in order:  # probed before, between and after the grids: a job passing by shows in the mean
        runs[workers] = grid_in_fresh_process(root / f"w{workers}-{steps}-{index}", steps, seeds, workers, cli)
        probes.append(capacity_probe())
    sequential, pool = runs[1], runs[pool_workers]
    capacity = statistics.mean(probes)
    speedup = sequential["total_s"] / pool["total_s"]
    # Amdahl: what no pool shortens (imports, planning, teardown) is the sequential run minus its trials;
    # the best a pool can do is that plus the trials run `capacity` at a time
    parallel_s = trials_seconds(root / f"w1-{steps}-{index}")
    serial_s = sequential["total_s"] - parallel_s
    bound = sequential["total_s"] / (serial_s + parallel_s / capacity)
    return {"serial_s": serial_s, "bound": bound / capacity, "of_bound": speedup / bound,
            "load_before": load_before, "load_after": os.getloadavg()[0], "capacity": capacity,
            "speedup": speedup, "efficiency": speedup / capacity, "sequential_s": sequential["total_s"],
            "pool_s": pool["total_s"], "startup_s": pool["first_s"] - sequential["first_s"],
            "prepare_s": sequential["prepare_s"], "workers": pool["workers"]}


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (range {min(values):.2f}–{max(values):.2f})"


def _report(rows: list[dict[str, float]]) -> None:
    for key in ("capacity", "speedup", "efficiency", "serial_s", "bound", "of_bound", "startup_s"):
        values = [row[key] for row in rows if not math.isnan(row[key])]
        if values:
            print(f"  {key:10s} {_summary(values)}")
    loads = [row[key] for row in rows for key in ("load_before", "load_after")]
    print(f"  load average (1 min) over the repeats: {min(loads):.2f}–{max(loads):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="400", help="steps per trial; a comma list measures each in turn")
    parser.add_argument("--seeds", default="0-1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cli", action="store_true", help="time whole `optbench run` commands instead")
    parser.add_argument("--workers", default="2", help="the pooled side: a number, or auto (what it chose is "
                        "printed)")
    parser.add_argument("--busy", action="store_true", help="keep one CPU-bound process running beside the runs "
                        "(the capacity probes then measure what is left)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one timed run
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(grid_seconds(Path(args.out), int(args.steps), args.seeds, _workers(args.one))))
        return
    busy = _start_busy() if args.busy else None
    try:
        _measure(args)
    finally:
        if busy is not None:
            busy.terminate()
            busy.join()


def _workers(value: str) -> int | str:
    return "auto" if value == "auto" else int(value)


def _busy_loop() -> None:
    while True:
        sum(i * i for i in range(10_000))


def _start_busy() -> Any:
    process = multiprocessing.get_context("spawn").Process(target=_busy_loop, daemon=True)
    process.start()
    return process


def _measure(args: argparse.Namespace) -> None:
    pool_workers = _workers(args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for steps in (int(value) for value in args.steps.split(",")):
            n = len(prepare(TASKS, OPTIMS, seeds=args.seeds, steps=steps, out=root / f"probe{steps}").configs)
            what = "whole `optbench run` commands" if args.cli else "prepare + execute in a fresh process"
            print(f"grid: {n} trials × {steps} steps, threads 1 per process, {os.cpu_count()} cores; timed: {what}")
            rows = []
            for index in range(args.repeats):
                row = one_repeat(root, index, steps, args.seeds, args.cli, pool_workers)
                rows.append(row)
                print(f"repeat {index}: load {row['load_before']:.2f}→{row['load_after']:.2f}  capacity "
                      f"{row['capacity']:.2f}×  sequential {row['sequential_s']:.1f} s  --workers "
                      f"{args.workers} (ran {row['workers']}) {row['pool_s']:.1f} s  speed-up {row['speedup']:.2f}×  "
                      f"efficiency "
                      f"{row['efficiency']:.2f}  (Amdahl: serial {row['serial_s']:.1f} s, bound {row['bound']:.2f}, "
                      f"pool at {row['of_bound']:.2f} of it" + ("" if args.cli else  # the CLI mode times no first trial
                      f"; pool start-up {row['startup_s']:.2f} s; prepare {row['prepare_s']:.1f} s") + ")")
            _report(rows)


if __name__ == "__main__":
    main()

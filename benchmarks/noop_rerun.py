"""Benchmark: a rerun with nothing to do, and ``optbench suite list``, in fresh interpreters.

The README's main job (``optbench run --tasks phoneme --optims adam,rmsprop``, three seeds, the built-in
corpus) is made once into ``--store`` (one thread; minutes the first time), then rerun: every trial is in the
store, so the command should only read it and print the table. The same rerun with the store's
``plans/`` removed first is what every rerun did before plans were remembered: plan (build the tasks, load
the corpus, validate the optimizers), then find every trial stored. Each command runs as ``python -m optbench``
in a new process; interleaved with it, round by round, the same run times two baselines: ``python -c
"import optbench"`` (the package alone, lazy) and ``python -c "import torch, pandas"`` (what any command
that trains or reads a store imports). Reported: median and range of wall seconds, the median's ratio to
each baseline's, and the 1-minute load average before and after.

    python benchmarks/noop_rerun.py [--store /tmp/noop-main] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = ["-m", "optbench", "run", "--tasks", "phoneme", "--optims", "adam,rmsprop", "--threads", "1"]
BASELINES = {"python -c 'import optbench'": ["-c", "import optbench"],
             "python -c 'import torch, pandas'": ["-c", "import torch, pandas"]}


def timed(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


PLANNED = "no-op rerun, planned (plans/ removed)"


def commands(store: Path) -> dict[str, list[str]]:
    rerun = [*MAIN_JOB, "--out", str(store)]
    return {**BASELINES, "no-op rerun of the main job": rerun, PLANNED: rerun,
            "optbench suite list": ["-m", "optbench", "suite", "list"]}


def forget_plans(store: Path) -> None:
    for plan in (store / "plans").glob("*.json"):
        plan.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/noop-main"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store = args.store.resolve()
    if not (store / "trials").is_dir():
        print(f"making the main job's store in {store} (once)", flush=True)
        print(f"  {timed([*MAIN_JOB, '--out', str(store)], ROOT):.0f} s", flush=True)
    runs = commands(store)
    load_before = os.getloadavg()[0]
    for command in runs.values():  # warm-up: the OS file cache, compiled .pyc files
        timed(command, store.parent)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, command in runs.items():
            if name == PLANNED:
                forget_plans(store)
            walls[name].append(timed(command, store.parent))
    load_after = os.getloadavg()[0]
    medians = {name: statistics.median(values) for name, values in walls.items()}
    print(f"{args.repeats} rounds; 1-minute load average {load_before:.2f} before, {load_after:.2f} after; "
          f"{os.cpu_count()} CPUs")
    for name, values in walls.items():
        ratios = ", ".join(f"{medians[name] / medians[b]:.2f}x {b}" for b in BASELINES)
        print(f"{name:34s} {medians[name]:6.2f} s ({min(values):.2f}-{max(values):.2f})  {ratios}")


if __name__ == "__main__":
    main()

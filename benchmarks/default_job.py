"""Benchmark: the default job, ``optbench run --tasks phoneme --optims adam,rmsprop --report``, end to end.

Runs the CLI in a fresh process and a fresh store (warm corpus cache: the corpus is built first, untimed)
with 3 seeds (6 trials: the default the verdicts issue asks for; given as ``--seeds 0-2`` so the figure
does not depend on this branch's CLI default), in these variants, interleaved over ``--rounds``:

* ``threads1``: ``--threads 1``
* ``default``: no ``--threads`` (torch's default: all cores)
* ``default+busy`` / ``threads1+busy``: the same with one other CPU-bound process running (a Python busy
  loop started before and stopped after the run)
* with ``--old-budget``, also ``threads1 --epochs 2`` (the task's previous default budget) as a baseline

Reported per variant: wall seconds (median and range over rounds), the job's CPU seconds (user + system
of the child; for a one-thread job this estimates its wall time on an idle machine, which a shared
machine cannot give), the 1-min load average before each run, and the wall ratio to the first variant
measured in the same run. Read the ratios with the load average, not the seconds alone.

    python benchmarks/default_job.py [--rounds 1] [--old-budget] [--variants threads1,default,...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = ["-m", "optbench", "run", "--tasks", "phoneme", "--optims", "adam,rmsprop", "--seeds", "0-2",
        "--report", "-q"]
VARIANTS: dict[str, tuple[list[str], bool]] = {
    "threads1": (["--threads", "1"], False),
    "default": ([], False),
    "default+busy": ([], True),
    "threads1+busy": (["--threads", "1"], True),
}
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def warm_corpus() -> None:
    subprocess.run([sys.executable, "-c", "from optbench.tasks.phoneme.corpus import default_corpus; "
                    "default_corpus()"], check=True)


def timed_job(extra: list[str], busy: bool, workdir: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the job, 1-min load average just before) of one job in a fresh store.

    The job's CPU seconds (user + system, from getrusage of the finished child) stay meaningful on a
    loaded machine: for a one-thread job they estimate its wall time on an idle one."""
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if hog is not None:
            time.sleep(1.0)  # let the busy loop get on a core before the clock starts
        load = os.getloadavg()[0]
        out = tempfile.mkdtemp(prefix="store-", dir=workdir)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, *BASE, *extra, "--out", out], check=True, cwd=workdir,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, load
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--old-budget", action="store_true", help="also time --epochs 2 (previous default)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset to run")
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    if args.old_budget:
        variants["threads1 --epochs 2"] = (["--threads", "1", "--epochs", "2"], False)
    warm_corpus()
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.rounds):
            for name, (extra, busy) in variants.items():
                results[name].append(timed_job(extra, busy, Path(workdir)))
                wall, cpu, load = results[name][-1]
                print(f"  {name}: {wall:.1f} s wall, {cpu:.1f} CPU-s (load {load:.2f})", flush=True)
    median = {name: statistics.median(w for w, _, _ in runs) for name, runs in results.items()}
    base = next(iter(median))
    print(f"default job, 6 trials, {os.cpu_count()} cores, {args.rounds} round(s); ratios to {base}:")
    for name, runs in results.items():
        walls = [w for w, _, _ in runs]
        cpus = statistics.median(c for _, c, _ in runs)
        loads = ", ".join(f"{load:.2f}" for _, _, load in runs)
        print(f"  {name:>20}: wall median {median[name]:6.1f} s (range {min(walls):.1f}-{max(walls):.1f}), "
              f"CPU {cpus:.1f} s, load before [{loads}]; wall x{median[name] / median[base]:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: how long the command line takes to answer ``--help`` and ``list``, in fresh interpreters.

Each command runs as ``python -m optbench ...`` (what the ``optbench`` script runs) in a new process, from an
empty working directory so no ``./plugins`` file is loaded (a plugin's own imports are its own cost). The
same run measures two baselines in the same way: ``python -c pass`` (the interpreter's start) and
``python -c "import torch"`` (what a command pays if it imports torch). Commands are interleaved round
by round so a change in the machine's load hits every command alike. Reported per command: median and
range of wall seconds and of CPU seconds (user + system of the child), and the median's ratio to each
baseline's; the 1-minute load average before and after.

    flock /tmp/bench.lock python benchmarks/cli_startup.py [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import torch'": ["-c", "import torch"],
    "optbench --help": ["-m", "optbench", "--help"],
    "optbench list optimizers": ["-m", "optbench", "list", "optimizers"],
    "optbench list schedules": ["-m", "optbench", "list", "schedules"],
    "optbench list tasks": ["-m", "optbench", "list", "tasks"],
}
BASELINES = ("python -c pass", "python -c 'import torch'")


def timed(args: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh interpreter running ``args`` (CPU: the child's user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(repeats: int) -> dict[str, dict[str, list[float]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    samples: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in COMMANDS}
    with tempfile.TemporaryDirectory() as empty:
        for args in COMMANDS.values():  # one warm-up each: the OS file cache, compiled .pyc files
            timed(args, empty, env)
        for _ in range(repeats):
            for name, args in COMMANDS.items():
                wall, cpu = timed(args, empty, env)
                samples[name]["wall"].append(wall)
                samples[name]["cpu"].append(cpu)
    return samples


def summary(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    medians = {name: statistics.median(s["wall"]) for name, s in samples.items()}
    rows = {}
    for name, s in samples.items():
        rows[name] = {"wall_median": medians[name], "wall_min": min(s["wall"]), "wall_max": max(s["wall"]),
                      "cpu_median": statistics.median(s["cpu"]), "cpu_min": min(s["cpu"]), "cpu_max": max(s["cpu"]),
                      **{f"x_{base}": medians[name] / medians[base] for base in BASELINES}}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = summary(measure(args.repeats))
    load_after = os.getloadavg()[0]
    print(f"{args.repeats} rounds, load average {load_before:.2f} before, {load_after:.2f} after "
          f"({os.cpu_count()} cores)")
    print(f"{'command':28} {'wall median (range) s':>24} {'CPU median (range) s':>24} {'× pass':>7} {'× torch':>8}")
    for name, r in rows.items():
        print(f"{name:28} {r['wall_median']:8.3f} ({r['wall_min']:.3f}–{r['wall_max']:.3f}) "
              f"{r['cpu_median']:8.3f} ({r['cpu_min']:.3f}–{r['cpu_max']:.3f}) "
              f"{r[f'x_{BASELINES[0]}']:7.2f} {r[f'x_{BASELINES[1]}']:8.2f}")
    if args.json:
        args.json.write_text(json.dumps({"repeats": args.repeats, "load_before": load_before,
                                         "load_after": load_after, "commands": rows}, indent=2))


if __name__ == "__main__":
    main()

"""How long `optbench report` takes on a 1,000-trial store, against a baseline measured in the same run.

Builds a synthetic store (real Store layout, synthetic numbers): 4 tasks (2 of them 2-D surfaces with x/y
trajectories, one with val_loss/val_acc every 20 steps) × 5 optimizers × 5 learning rates × 10 seeds,
200 steps. It is an *old-layout* store (no tasks/<key>.json, no headline/target columns), so the same
store can be reported by older code. The store is then compacted, as a study does when it ends
(``Store.compact``: the read index), and reported both ways: with its index (what a finished study
leaves) and without it (what a study killed before its end leaves: 2,000 files to open). Each build runs
in a fresh interpreter (imports included, as for ``optbench report``), alternating this checkout and
``--baseline`` (another checkout, e.g. an older commit) ``--repeats`` times; it prints every time, the
medians, their ratio and the load average before and after (the machine is shared: read the ratio and
the CPU time, not only the seconds).

    python benchmarks/report_1000_trials.py [--steps 200] [--seeds 10] [--baseline CHECKOUT] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optbench.store import Store

TASKS = {"saddle": True, "rosenbrock": True, "quadratic": False, "phoneme-like": False}
OPTIMIZERS = ["sgd", "momentum", "adam", "rmsprop", "adamw"]
LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
BUILD = ("import sys, time; t, c = time.perf_counter(), time.process_time(); "
         "from optbench.report import build_report; build_report([sys.argv[1]], sys.argv[2]); "
         "print(time.perf_counter() - t, time.process_time() - c)")


def _trial(task: str, is_2d: bool, optimizer: str, o: int, lr: float, seed: int, steps: int,
           rng: np.random.Generator) -> tuple[dict, pd.DataFrame]:
    step = np.arange(steps + 1)
    rate = lr * (1 + o) * rng.uniform(0.8, 1.2)
    loss = 2.0 * np.exp(-rate * step) + 0.01 + rng.normal(0, 0.01, step.size).clip(0)
    clock = np.cumsum(np.full(step.size, 1e-3 * (1 + 0.1 * o)))
    frames = [("train_loss", step, loss), ("lr", step, np.full(step.size, lr)), ("grad_norm", step, loss * 2)]
    if is_2d:
        frames += [("x", step, np.exp(-rate * step)), ("y", step, 0.5 * np.exp(-rate * step))]
    if task == "phoneme-like":
        evals = step[::20]
        frames += [("val_loss", evals, loss[::20] * 1.1), ("val_acc", evals, 1 - loss[::20] / 2.1)]
    metrics = pd.concat([pd.DataFrame({"step": s, "epoch": s / 20, "examples": s * 32, "time": clock[s],
                                       "metric": name, "value": v}) for name, s, v in frames], ignore_index=True)
    trial_id = f"{task}-{optimizer}-{lr}-{seed}"
    metrics.insert(0, "trial_id", trial_id)
    row = {"trial_id": trial_id, "task": task if task != "phoneme-like" else "quadratic", "task_label": task,
           "task_params": json.dumps({}), "optimizer": optimizer, "optimizer_label": f"{optimizer}[lr={lr:g}]",
           "optimizer_params": json.dumps({"lr": lr}), "lr": lr, "schedule": "constant",
           "schedule_label": "constant", "schedule_params": "{}", "batch_size": "32", "batch_size_value": 32,
           "seed": seed, "status": "completed", "steps": steps, "epochs": steps / 20,
           "train_time": float(clock[-1]), "steps_per_second": steps / float(clock[-1]),
           "final_train_loss": float(loss[-1]), "best_train_loss": float(loss.min()), "diverged_step": None,
           "error": None}
    if task == "phoneme-like":
        row.update(final_val_loss=float(loss[-1] * 1.1), best_val_acc=float(1 - loss.min() / 2.1),
                   final_val_acc=float(1 - loss[-1] / 2.1), best_val_loss=float(loss.min() * 1.1))
    return row, metrics


def synthetic_store(root: Path, steps: int, seeds: int) -> Path:
    store = Store(root / "store").create()
    store.update_manifest({"tasks": list(TASKS), "optimizers": OPTIMIZERS, "seeds": list(range(seeds)),
                           "steps": steps, "n_trials": len(TASKS) * len(OPTIMIZERS) * len(LRS) * seeds})
    rng = np.random.default_rng(0)
    for task, is_2d in TASKS.items():
        for o, optimizer in enumerate(OPTIMIZERS):
            for lr in LRS:
                for seed in range(seeds):
                    store.write_trial(*_trial(task, is_2d, optimizer, o, lr, seed, steps, rng))
    return store.path


def timed_build(checkout: Path, store: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one report build in a fresh interpreter, imports included."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", BUILD, str(store), str(out)], env=env, capture_output=True,
                          text=True, check=True, cwd=out.parent)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _line(name: str, runs: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return (f"{name}: median {statistics.median(walls):.2f} s wall [{min(walls):.2f}–{max(walls):.2f}], "
            f"{statistics.median(cpus):.2f} s CPU  (runs: " + ", ".join(f"{w:.2f}" for w in walls) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to time on the same store")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_store(Path(tmp), args.steps, args.seeds)
        started = time.perf_counter()
        Store(path).load()
        print(f"load store only, no index: {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        Store(path).compact()
        print(f"compaction (once, when a study ends): {time.perf_counter() - started:.2f} s")
        started = time.perf_counter()
        Store(path).load()
        print(f"load store only, with its index: {time.perf_counter() - started:.2f} s")
        no_index = Path(tmp) / "no-index"
        shutil.copytree(path, no_index, ignore=shutil.ignore_patterns("index"))
        load_before = os.getloadavg()
        runs: dict[str, list[tuple[float, float]]] = {"this checkout": [], "this checkout, store without index": [],
                                                      "baseline": []}
        for _ in range(args.repeats):
            runs["this checkout"].append(timed_build(here, path, Path(tmp) / "new.html"))
            runs["this checkout, store without index"].append(timed_build(here, no_index, Path(tmp) / "raw.html"))
            if args.baseline:
                runs["baseline"].append(timed_build(args.baseline, path, Path(tmp) / "old.html"))
        for name, values in runs.items():
            if values:
                print(_line(name, values))
        if runs["baseline"]:
            ratio = statistics.median(w for w, _ in runs["this checkout"]) / statistics.median(
                w for w, _ in runs["baseline"])
            print(f"ratio this / baseline (wall): {ratio:.2f}")
        print(f"page size: {(Path(tmp) / 'new.html').stat().st_size / 1e6:.2f} MB")
        print(f"load average (1, 5, 15 min) before: {load_before}, after: {os.getloadavg()}, "
              f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()

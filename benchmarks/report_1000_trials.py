"""How long `optbench report` takes on a 1,000-trial store, against reading that store (same run).

Builds a synthetic store (real Store layout, synthetic numbers): 4 tasks (2 of them 2-D surfaces with x/y
trajectories, one with per-epoch val_loss/val_acc) × 5 optimizers × 5 learning rates × 10 seeds, 200 steps.
Prints seconds for ``optbench.load`` (the baseline: the report cannot be faster than reading its input),
for ``build_report``, their ratio, and the page size.

    python benchmarks/report_1000_trials.py [--steps 200] [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import optbench
from optbench.report import build_report
from optbench.store import Store

TASKS = {"saddle": True, "rosenbrock": True, "quadratic": False, "phoneme-like": False}
OPTIMIZERS = ["sgd", "momentum", "adam", "rmsprop", "adamw"]
LRS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def synthetic_store(root: Path, steps: int, seeds: int) -> Path:
    store = Store(root / "store").create()
    store.update_manifest({"tasks": list(TASKS), "optimizers": OPTIMIZERS, "seeds": list(range(seeds)),
                           "steps": steps, "n_trials": len(TASKS) * len(OPTIMIZERS) * len(LRS) * seeds})
    rng = np.random.default_rng(0)
    step = np.arange(steps + 1)
    for t, (task, is_2d) in enumerate(TASKS.items()):
        for o, optimizer in enumerate(OPTIMIZERS):
            for lr in LRS:
                for seed in range(seeds):
                    trial_id = f"{t}-{o}-{lr}-{seed}"
                    rate = lr * (1 + o) * rng.uniform(0.8, 1.2)
                    loss = 2.0 * np.exp(-rate * step) + 0.01 + rng.normal(0, 0.01, step.size).clip(0)
                    clock = np.cumsum(np.full(step.size, 1e-3 * (1 + 0.1 * o)))
                    frames = [("train_loss", step, loss), ("lr", step, np.full(step.size, lr)),
                              ("grad_norm", step, loss * 2)]
                    if is_2d:
                        frames += [("x", step, np.exp(-rate * step)), ("y", step, 0.5 * np.exp(-rate * step))]
                    if task == "phoneme-like":
                        evals = step[::20]
                        frames += [("val_loss", evals, loss[::20] * 1.1), ("val_acc", evals, 1 - loss[::20] / 2.1)]
                    metrics = pd.concat([pd.DataFrame({"step": s, "epoch": s / 20, "examples": s * 32,
                                                       "time": clock[s], "metric": name, "value": v})
                                         for name, s, v in frames], ignore_index=True)
                    metrics.insert(0, "trial_id", trial_id)
                    row = {"trial_id": trial_id, "task": task if task != "phoneme-like" else "quadratic",
                           "task_label": task, "task_params": json.dumps({}), "optimizer": optimizer,
                           "optimizer_label": f"{optimizer}[lr={lr:g}]", "optimizer_params": json.dumps({"lr": lr}),
                           "lr": lr, "schedule": "constant", "schedule_label": "constant", "schedule_params": "{}",
                           "batch_size": "32", "batch_size_value": 32, "seed": seed, "status": "completed",
                           "steps": steps, "epochs": steps / 20, "train_time": float(clock[-1]),
                           "steps_per_second": steps / float(clock[-1]), "final_train_loss": float(loss[-1]),
                           "best_train_loss": float(loss.min()), "diverged_step": None, "error": None}
                    if task == "phoneme-like":
                        row.update(final_val_loss=float(loss[-1] * 1.1), best_val_acc=float(1 - loss.min() / 2.1),
                                   final_val_acc=float(1 - loss[-1] / 2.1), best_val_loss=float(loss.min() * 1.1))
                    store.write_trial(row, metrics)
    return store.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = synthetic_store(Path(tmp), args.steps, args.seeds)
        started = time.perf_counter()
        results = optbench.load(path)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        page = build_report([path], Path(tmp) / "report.html")
        report_seconds = time.perf_counter() - started
        print(f"trials: {len(results.trials)}, metric rows: {len(results.metrics):,}")
        print(f"load store (baseline): {load_seconds:.2f} s")
        print(f"build report:          {report_seconds:.2f} s  ({report_seconds / load_seconds:.1f}x the load)")
        print(f"page size:             {page.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

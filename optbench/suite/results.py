"""A suite store's results as one tidy table: one row per final trial with its steps to the workload's target.

Steps to target are recomputed here from the stored metric curve at full resolution, with the target and
direction the suite recorded for the workload (the task's declaration, or the suite's for a task that
declares none); a trial that did not complete (diverged or failed) never reaches it. Time to target is the
training clock at that step: machine-specific, shown for information and never scored.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from optbench.errors import OptbenchError
from optbench.store import Store
from optbench.suite.run import SUITE_FILE

RESULT_COLUMNS = ["workload", "optimizer", "chosen", "tuned", "seed", "trial_id", "status", "diverged_reason",
                  "steps", "time_to_target", "target_metric", "target_value", "target_direction",
                  "final_target_metric", "train_time", "steps_per_second", "load_avg_start"]


def read_record(path: str | Path) -> dict[str, Any]:
    """The store's ``suite.json`` (what :func:`optbench.suite.run.run_suite` wrote)."""
    file = Path(path) / SUITE_FILE
    if not file.is_file():
        raise OptbenchError(f"{path} is not a suite store (no {SUITE_FILE}); make one with "
                            f"`optbench suite run --optims NAME --out {path}`")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise OptbenchError(f"{file} is not valid JSON: {exc}") from None


def first_reached(curve: pd.DataFrame, value: float, direction: str) -> tuple[float, float]:
    """(step, time) of the first point of ``curve`` (step, time, value) at the target; (∞, NaN) if none."""
    hit = curve[curve["value"] >= value] if direction == "max" else curve[curve["value"] <= value]
    if hit.empty:
        return math.inf, math.nan
    first = hit.sort_values("step").iloc[0]
    return float(first["step"]), float(first["time"])


def suite_results(path: str | Path) -> pd.DataFrame:
    """One row per final trial of every optimizer on every workload in the suite store at ``path``."""
    record = read_record(path)
    store = Store(path)
    trials = store.read_trials()
    ids = {t for w in record["workloads"].values() for c in w["choices"].values() for t in c["final_trials"]}
    if trials.empty or not ids:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    trials = trials[trials["trial_id"].isin(ids)].set_index("trial_id")
    metrics = store.read_metrics(ids)
    rows = []
    for workload_id, workload in record["workloads"].items():
        target = workload["target"]
        curves = metrics[metrics["metric"] == target["metric"]]
        for choice in workload["choices"].values():
            for trial_id in choice["final_trials"]:
                if trial_id in trials.index:
                    rows.append(_row(workload_id, choice, target, trials.loc[trial_id], trial_id,
                                     curves[curves["trial_id"] == trial_id]))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _row(workload_id: str, choice: dict[str, Any], target: dict[str, Any], trial: pd.Series, trial_id: str,
         curve: pd.DataFrame) -> dict[str, Any]:
    completed = trial["status"] == "completed"
    steps, seconds = first_reached(curve, target["value"], target["direction"]) if completed else (math.inf,
                                                                                                   math.nan)
    final = curve.sort_values("step")["value"].iloc[-1] if len(curve) else math.nan
    return {"workload": workload_id, "optimizer": choice["optimizer"], "chosen": choice["chosen"],
            "tuned": bool(choice["tuned"]), "seed": int(trial["seed"]), "trial_id": trial_id,
            "status": trial["status"], "diverged_reason": trial.get("diverged_reason"), "steps": steps,
            "time_to_target": seconds, "target_metric": target["metric"], "target_value": float(target["value"]),
            "target_direction": target["direction"], "final_target_metric": float(final),
            "train_time": float(trial.get("train_time", math.nan)),
            "steps_per_second": float(trial.get("steps_per_second", math.nan)),
            "load_avg_start": float(trial.get("load_avg_start", math.nan))}

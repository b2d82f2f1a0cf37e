"""A suite store's results as one tidy table: one row per final trial with its steps to the workload's target.

Steps to target are decided by the judge (:func:`optbench.judge.trial_verdicts`) from the stored metric curve,
with the target and direction the suite recorded for the workload (the task's declaration, or the suite's
for a task that declares none): a trial that did not complete (diverged or failed) never reaches it. The
shipped baselines are judged by the same call on their curves (:func:`judged`). Time to target is the
training clock at that step: machine-specific, shown for information and scored only when asked.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from optbench.declaration import Declaration, Metric, Target
from optbench.errors import OptbenchError
from optbench.judge import trial_verdicts
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


def target_declaration(workload_id: str, target: dict[str, Any]) -> Declaration:
    """What the judge needs of a workload: its target metric (also the value ranked) and the target."""
    metric = Metric(target["metric"], target["direction"], target["metric"])
    return Declaration(task=workload_id, task_label=workload_id, metrics={metric.name: metric}, traces={},
                       headline=metric.name, target=Target(metric.name, float(target["value"]),
                                                           str(target.get("description") or target.get("why") or "")))


def judged(rows: pd.DataFrame, curves: pd.DataFrame, targets: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """``rows`` (one per final trial: workload, optimizer, trial_id, seed, status) with ``steps``,
    ``time_to_target`` and ``final_target_metric`` as the judge decides them from ``curves``."""
    if rows.empty:
        return rows
    frame = rows.assign(task_key=rows["workload"], task_label=rows["workload"], optimizer_label=rows["optimizer"])
    declarations = {w: target_declaration(w, t) for w, t in targets.items()}
    verdicts = trial_verdicts(frame, declarations, curves, config_column="optimizer").set_index("trial_id")
    ids = rows["trial_id"].astype(str)
    return rows.assign(steps=verdicts["steps_to_target"].reindex(ids).to_numpy(dtype=float),
                       time_to_target=verdicts["time_to_target"].reindex(ids).to_numpy(dtype=float),
                       final_target_metric=verdicts["headline_final"].reindex(ids).to_numpy(dtype=float))


def record_targets(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {workload_id: workload["target"] for workload_id, workload in record["workloads"].items()}


def suite_results(path: str | Path) -> pd.DataFrame:
    """One row per final trial of every optimizer on every workload in the suite store at ``path``."""
    record = read_record(path)
    store = Store(path)
    trials = store.read_trials()
    ids = {t for w in record["workloads"].values() for c in w["choices"].values() for t in c["final_trials"]}
    if trials.empty or not ids:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    trials = trials[trials["trial_id"].isin(ids)].set_index("trial_id")
    rows = []
    for workload_id, workload in record["workloads"].items():
        for choice in workload["choices"].values():
            for trial_id in choice["final_trials"]:
                if trial_id in trials.index:
                    rows.append(_row(workload_id, choice, workload["target"], trials.loc[trial_id], trial_id))
    return judged(pd.DataFrame(rows, columns=RESULT_COLUMNS), store.read_metrics(ids), record_targets(record))


def _row(workload_id: str, choice: dict[str, Any], target: dict[str, Any], trial: pd.Series,
         trial_id: str) -> dict[str, Any]:
    return {"workload": workload_id, "optimizer": choice["optimizer"], "chosen": choice["chosen"],
            "tuned": bool(choice["tuned"]), "seed": int(trial["seed"]), "trial_id": trial_id,
            "status": trial["status"], "diverged_reason": trial.get("diverged_reason"), "steps": math.nan,
            "time_to_target": math.nan, "target_metric": target["metric"], "target_value": float(target["value"]),
            "target_direction": target["direction"], "final_target_metric": math.nan,
            "train_time": float(trial.get("train_time", math.nan)),
            "steps_per_second": float(trial.get("steps_per_second", math.nan)),
            "load_avg_start": float(trial.get("load_avg_start", math.nan))}

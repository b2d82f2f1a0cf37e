"""A finished trial's summary row: its configuration, status, cost, and its metrics read by their declarations.

``best_<m>`` uses the direction the task declared for ``m`` (undeclared metrics get only ``final_<m>``);
``steps_to_target`` is the first recorded step at which the declared target metric reached its value.
Nothing here guesses what a metric means from its name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from optbench.tasks.base import Metric, Target

#: per-step bookkeeping the runner records for every trial (not a task's metric)
BOOKKEEPING = ("train_loss", "lr", "grad_norm", "epoch_train_loss")


def _finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy(dtype=float))]  # vectorised: a trial has ~10^4 values


def _best(metrics: pd.DataFrame, declared: dict[str, Metric]) -> dict[str, float]:
    out = {}
    for name, values in metrics.groupby("metric", sort=False)["value"]:
        metric = declared.get(name)
        finite = _finite(values)
        if metric is None or name == "train_loss" or finite.empty:
            continue
        out[f"best_{name}"] = float(finite.max() if metric.direction == "max" else finite.min())
    return out


def to_target(metrics: pd.DataFrame, target: Target | None, declared: dict[str, Metric]) -> dict[str, float]:
    """Steps, training time and examples until the target was first reached (NaN: never)."""
    out = {"steps_to_target": math.nan, "time_to_target": math.nan, "examples_to_target": math.nan}
    if target is None or target.metric not in declared:
        return out
    rows = metrics[metrics["metric"] == target.metric]
    direction = declared[target.metric].direction
    hit = rows[rows["value"] >= target.value] if direction == "max" else rows[rows["value"] <= target.value]
    if not hit.empty:
        first = hit.iloc[0]
        out.update(steps_to_target=float(first["step"]), time_to_target=float(first["time"]),
                   examples_to_target=float(first["examples"]))
    return out


def _declaration_columns(declared: dict[str, Metric], headline: str | None, target: Target | None) -> dict[str, Any]:
    head = declared.get(headline or "")
    return {
        "headline_metric": headline, "headline_direction": head.direction if head else None,
        "target_metric": target.metric if target else None,
        "target_value": float(target.value) if target else math.nan,
        "target_description": target.description if target else None,
    }


def summary_row(loop: Any, metrics: pd.DataFrame, declared: dict[str, Metric], target: Target | None) -> dict[str, Any]:
    """The trial row of a :class:`optbench.loop.TrainingLoop` that has run."""
    config, facts = loop.config, loop.facts
    finals = metrics.groupby("metric", sort=False)["value"].last() if len(metrics) else pd.Series(dtype=float)
    row: dict[str, Any] = {
        **config.config_columns(),
        "batch_size_value": int(facts.get("batch_size_value", 0)),
        "status": loop.status, "diverged_step": loop.diverged_step,
        "diverged_reason": loop.monitor.reason if loop.status == "diverged" else None, "error": loop.error,
        "steps": loop.step, "epochs": loop.step / loop.steps_per_epoch, "examples": loop.examples,
        "train_time": loop.clock, "eval_time": loop.eval_clock, "wall_time": facts.get("wall_time", math.nan),
        "steps_per_second": loop.step / loop.clock if loop.clock > 0 else math.nan,
        "final_train_loss": loop.epoch_losses[-1] if loop.epoch_losses else math.nan,
        "device": loop.options.device, "threads": facts.get("threads"),
        "threads_reason": facts.get("threads_reason"), "load_avg_start": facts["load_avg_start"],
        "finished_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        **_declaration_columns(declared, loop.task.headline if loop.task else None, target),
        **to_target(metrics, target, declared),
    }
    for name, value in finals.items():
        if name not in BOOKKEEPING:
            row[f"final_{name}"] = float(value)
    row.update(_best(metrics, declared))
    gap = row.get("final_val_loss", math.nan) - row.get("final_subset_train_loss", math.nan)
    row["generalization_gap"] = gap
    return row

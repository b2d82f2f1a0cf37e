"""A finished trial's summary row: its configuration, status, cost, and its metrics read by their declarations.

``final_<m>`` for every recorded metric, ``best_<m>`` for every declared metric (in its declared direction;
traces and undeclared names get none), and the judge's per-trial verdict (``steps_to_target``,
``headline_final`` ...), computed by :func:`optbench.judge.trial_verdicts` from the records, so the stored
columns are the numbers every reader of the records would find. Nothing here guesses what a metric means.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from optbench.declaration import RUNNER_TRACES, TRAIN_LOSS, Declaration, declare
from optbench.judge import trial_verdicts

#: per-step values of every trial with no final_ column (the row has its own training-loss summary)
UNSUMMARISED = frozenset({TRAIN_LOSS.name, *(t.name for t in RUNNER_TRACES)})


def _finite(values: pd.Series) -> pd.Series:
    return values[np.isfinite(values.to_numpy(dtype=float))]  # vectorised: a trial has ~10^4 values


def _best(metrics: pd.DataFrame, declaration: Declaration) -> dict[str, float]:
    out = {}
    for name, values in metrics.groupby("metric", sort=False)["value"]:
        metric = declaration.metric(str(name))
        finite = _finite(values)
        if metric is None or name == "train_loss" or finite.empty:
            continue
        out[f"best_{name}"] = float(finite.max() if metric.direction == "max" else finite.min())
    return out


def _declaration_columns(declaration: Declaration) -> dict[str, Any]:
    target = declaration.target
    return {
        "headline_metric": declaration.headline, "headline_direction": declaration.headline_metric.direction,
        "target_metric": target.metric if target else None,
        "target_value": float(target.value) if target else math.nan,
        "target_description": target.description if target else None,
    }


def _verdict_columns(row: dict[str, Any], metrics: pd.DataFrame, declaration: Declaration) -> dict[str, Any]:
    verdict = trial_verdicts(pd.DataFrame([row]), {row["task_key"]: declaration}, metrics).iloc[0]
    columns = ("steps_to_target", "time_to_target", "examples_to_target", "headline_final", "headline_best")
    # stored as the records say (NaN: never reached or no target); readers apply the status rule again
    values = {c: float(verdict[c]) for c in columns}
    return {c: (math.nan if math.isinf(v) else v) for c, v in values.items()}


def summary_row(loop: Any, metrics: pd.DataFrame) -> dict[str, Any]:
    """The trial row of a :class:`optbench.loop.TrainingLoop` that has run."""
    config, facts = loop.config, loop.facts
    finals = metrics.groupby("metric", sort=False)["value"].last() if len(metrics) else pd.Series(dtype=float)
    declaration = declare(loop.task, name=config.task, label=config.task_label, params=config.task_params,
                          data_source=config.data_source) if loop.task is not None else None
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
    }
    for name, value in finals.items():
        if name not in UNSUMMARISED:
            row[f"final_{name}"] = float(value)
    if declaration is not None:
        row.update(_declaration_columns(declaration))
        row.update(_verdict_columns(row, metrics, declaration))
        row.update(_best(metrics, declaration))
    gap = row.get("final_val_loss", math.nan) - row.get("final_subset_train_loss", math.nan)
    row["generalization_gap"] = gap
    return row

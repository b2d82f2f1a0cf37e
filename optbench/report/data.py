"""The report's numbers: one or more stores read into labelled tables, and what every section derives.

Owns: combining stores (each trial labelled with its store), the configuration label a trial is grouped
under, per-step curves aggregated over seeds (downsampled for drawing only), time-to-target per trial
and the per-task targets. Figures and the page only read what this module returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import stats
from optbench.errors import OptbenchError
from optbench.store import Results, load

# per-step bookkeeping the runner writes for every trial; everything else is a task's own metric
BOOKKEEPING_METRICS = ("lr", "grad_norm", "x", "y", "epoch_train_loss")
TARGET_TOLERANCE = 0.05  # the target is 5 % of the way from the best result back to the start


@dataclass
class ReportData:
    """Trials and metrics of every store, with ``store`` and ``config`` columns added to both."""

    trials: pd.DataFrame
    metrics: pd.DataFrame
    stores: list[tuple[str, Results]]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.trials["task_label"].unique()) if not self.trials.empty else []

    @property
    def multi_store(self) -> bool:
        return len(self.stores) > 1

    def metric_names(self, task_label: str) -> list[str]:
        ids = self.trials.loc[self.trials["task_label"] == task_label, "trial_id"]
        names = self.metrics.loc[self.metrics["trial_id"].isin(ids), "metric"].unique()
        return sorted(names)

    def has_metric(self, task_label: str, metric: str) -> bool:
        return metric in self.metric_names(task_label)


def _store_labels(paths: Sequence[Path]) -> list[str]:
    """Folder names, made unique with their parent (or a counter) when two stores share a name."""
    names = [p.resolve().name for p in paths]
    labels = [f"{p.resolve().parent.name}/{name}" if names.count(name) > 1 else name
              for p, name in zip(paths, names, strict=True)]
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} ({seen[label]})"
    return labels


def config_label(trials: pd.DataFrame, with_store: bool) -> pd.Series:
    """``optimizer · schedule · bs=B`` (and ``store: `` first when comparing stores)."""
    label = (trials["optimizer_label"].astype(str) + " · " + trials["schedule_label"].astype(str)
             + " · bs=" + trials["batch_size"].astype(str))
    if with_store:
        label = trials["store"].astype(str) + ": " + label
    return label


def load_stores(paths: Sequence[str | Path]) -> ReportData:
    """Read every store; a missing store or one without trials is a one-line :class:`OptbenchError`."""
    if not paths:
        raise OptbenchError("no results store given (expected one or more store folders)")
    folders = [Path(p) for p in paths]
    labels = _store_labels(folders)
    stores: list[tuple[str, Results]] = []
    trial_parts, metric_parts = [], []
    for label, folder in zip(labels, folders, strict=True):
        results = load(folder)
        if results.trials.empty:
            raise OptbenchError(f"results store {folder} has no finished trials yet")
        stores.append((label, results))
        # the same trial id can appear in two stores (same config re-run): key rows by store too
        trial_parts.append(results.trials.assign(store=label))
        metric_parts.append(results.metrics.assign(store=label))
    trials = pd.concat(trial_parts, ignore_index=True)
    metrics = pd.concat(metric_parts, ignore_index=True)
    trials["trial_id"] = trials["store"] + "/" + trials["trial_id"].astype(str)
    metrics["trial_id"] = metrics["store"] + "/" + metrics["trial_id"].astype(str)
    trials["config"] = config_label(trials, with_store=len(stores) > 1)
    metrics = metrics.merge(trials[["trial_id", "task_label", "optimizer", "config", "seed"]], on="trial_id")
    data = ReportData(trials, metrics, stores)
    add_time_to_target(data)
    return data


def primary_metric(data: ReportData, task_label: str) -> str:
    """What a task is judged on: validation accuracy when it records one, else the training loss."""
    return "val_acc" if data.has_metric(task_label, "val_acc") else "train_loss"


def add_time_to_target(data: ReportData, tolerance: float = TARGET_TOLERANCE) -> None:
    """Per task: derive a target for its primary metric and add ``steps_to_target`` / ``time_to_target``.

    The target is :func:`optbench.stats.derive_target` of the best configuration's median best value
    and the median starting value, so "steps to target" compares optimizers on the same bar.
    """
    trials = data.trials
    trials["steps_to_target"] = math.inf
    trials["time_to_target"] = math.inf
    for task_label in data.tasks:
        metric = primary_metric(data, task_label)
        maximize = stats.higher_is_better(metric)
        rows = data.metrics[(data.metrics["task_label"] == task_label) & (data.metrics["metric"] == metric)]
        rows = rows[np.isfinite(rows["value"])]
        if rows.empty:
            continue
        per_trial = rows.groupby("trial_id", sort=False)["value"]
        best_per_trial = per_trial.max() if maximize else per_trial.min()
        config_of = trials.set_index("trial_id")["config"]
        best_by_config = best_per_trial.groupby(config_of.reindex(best_per_trial.index)).median()
        best = best_by_config.max() if maximize else best_by_config.min()
        initial = float(per_trial.first().median())
        target = stats.derive_target(float(best), initial, tolerance, maximize=maximize)
        reached = rows[rows["value"] >= target] if maximize else rows[rows["value"] <= target]
        first = reached.sort_values(["trial_id", "step"]).groupby("trial_id", sort=False).first()
        mask = trials["trial_id"].isin(first.index)
        ids = trials.loc[mask, "trial_id"]
        trials.loc[mask, "steps_to_target"] = first.loc[ids, "step"].to_numpy(dtype=float)
        trials.loc[mask, "time_to_target"] = first.loc[ids, "time"].to_numpy(dtype=float)
        data.targets[task_label] = {"metric": metric, "target": target, "maximize": maximize,
                                    "best": float(best), "initial": initial, "tolerance": tolerance}


def downsample_steps(steps: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` of the distinct ``steps``, evenly spread, always keeping first and last."""
    unique = np.unique(steps)
    if unique.size <= max_points:
        return unique
    keep = np.unique(np.linspace(0, unique.size - 1, max_points).round().astype(int))
    return unique[keep]


def seed_curves(data: ReportData, task_label: str, metric: str, max_points: int = 300) -> pd.DataFrame:
    """Median and IQR over seeds of ``metric`` per config and step, with median epoch and time.

    Drawing only: steps are thinned to ``max_points`` per task before aggregating; the stored data
    is untouched. Columns: config, optimizer, step, epoch, time, median, q25, q75, min, max, n.
    """
    rows = data.metrics[(data.metrics["task_label"] == task_label) & (data.metrics["metric"] == metric)]
    if rows.empty:
        return pd.DataFrame(columns=["config", "optimizer", "step", "epoch", "time", "median", "q25", "q75",
                                     "min", "max", "n"])
    rows = rows[rows["step"].isin(downsample_steps(rows["step"].to_numpy(), max_points))]
    grouped = rows.groupby(["config", "optimizer", "step"], sort=True)
    curves = grouped.agg(epoch=("epoch", "median"), time=("time", "median"), median=("value", "median"),
                         min=("value", "min"), max=("value", "max"), n=("value", "count"))
    curves["q25"] = grouped["value"].quantile(0.25)
    curves["q75"] = grouped["value"].quantile(0.75)
    return curves.reset_index()

"""The report's numbers: one or more stores read into labelled tables, and what every section derives.

Owns: combining stores (each trial labelled with its store), each task's declaration as the figures read
it (from the store's :class:`~optbench.declaration.Declaration`; never guessed from a metric's name), the
judge's verdicts on all of it (:mod:`optbench.judge`: configuration labels, per-trial headline values and
steps/time to target, per-configuration and per-task verdicts, copied onto the trial rows for the figures),
and per-step curves aggregated over the *completed* seeds (downsampled for drawing only). Stores written
before declarations existed get labelled fallbacks (see :class:`TaskInfo.notes`). Figures and the page only
read what this module returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.declaration import Declaration, Metric
from optbench.errors import OptbenchError
from optbench.judge import Verdicts, judge
from optbench.store import Results, Store


def natural_key(text: str) -> list[Any]:
    """Sort key that compares the numbers inside a label as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)", str(text))
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


@dataclass
class MetricInfo:
    """A metric's declared meaning (``direction`` None: the store does not say which way is better)."""

    name: str
    direction: str | None
    label: str
    unit: str = ""
    kind: str = "eval"
    resolution: float = 0.0  # values below it are numerically equal (see optbench.Metric)
    evaluated_on: str = ""

    @classmethod
    def of(cls, metric: Metric) -> MetricInfo:
        return cls(metric.name, metric.direction, metric.label, metric.unit, metric.kind, metric.resolution,
                   metric.evaluated_on)

    @property
    def axis_label(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        better = {"min": ", lower is better", "max": ", higher is better"}.get(self.direction or "", "")
        return f"{self.label}{unit}{better}"


@dataclass
class TaskInfo:
    """What one task (by its label) declares, as far as the store says; ``notes`` name every fallback."""

    label: str
    headline: str
    direction: str
    metrics: dict[str, MetricInfo]
    target: dict[str, Any] | None = None  # metric, value, description, direction, derived
    surface: dict[str, Any] | None = None
    critical_points: list[dict[str, Any]] = field(default_factory=list)
    data_source: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    task_params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: recorded names that are not results, by kind ("step", "eval", "diagnosis"): drawn or tabled, never ranked
    traces: dict[str, str] = field(default_factory=dict)

    @property
    def maximize(self) -> bool:
        return self.direction == "max"

    def metric(self, name: str) -> MetricInfo:
        return self.metrics.get(name) or MetricInfo(name, None, name)


@dataclass
class ReportData:
    """Trials and metrics of every store, with ``store`` and ``config`` columns added to both."""

    trials: pd.DataFrame
    metrics: pd.DataFrame
    stores: list[tuple[str, Results]]
    infos: dict[str, TaskInfo] = field(default_factory=dict)
    diagnoses: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuning: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: the judge's verdicts, tasks keyed by their label (what the page's sections are)
    verdicts: Verdicts | None = None

    @property
    def tasks(self) -> list[str]:
        """Task labels in natural order (kappa=10 before kappa=100 before kappa=1000)."""
        return sorted(self.trials["task_label"].unique(), key=natural_key) if not self.trials.empty else []

    @property
    def multi_store(self) -> bool:
        return len(self.stores) > 1

    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def task_trials(self, task_label: str, completed_only: bool = False) -> pd.DataFrame:
        """The task's trials (a cached selection: copy before changing it)."""
        key = ("trials", task_label, completed_only)
        if key not in self._cache:
            trials = self.trials[self.trials["task_label"] == task_label]
            self._cache[key] = trials[trials["status"] == "completed"] if completed_only else trials
        return self._cache[key]

    def task_metric(self, task_label: str, metric: str) -> pd.DataFrame:
        """Rows of ``metric`` for the task's trials, from one grouping of the metrics table (each
        selection made once, when first asked for)."""
        groups = self._metric_groups()
        key = ("metric rows", task_label, metric)
        if key not in self._cache:
            rows = groups.get((task_label, metric))
            self._cache[key] = self.metrics.iloc[:0] if rows is None else self.metrics.take(rows)
        return self._cache[key]

    def _metric_groups(self) -> dict[tuple[str, str], np.ndarray]:
        """Row positions of every (task, metric) pair: one pass over the table, no copies."""
        if "groups" not in self._cache:
            self._cache["groups"] = self.metrics.groupby(["task_label", "metric"], sort=False,
                                                         observed=True).indices
        return self._cache["groups"]

    def invalidate_trials(self) -> None:
        """Forget cached trial selections (after columns were added to ``trials``)."""
        for key in [k for k in self._cache if k != "groups" and k[0] != "metric rows"]:
            del self._cache[key]

    def metric_names(self, task_label: str) -> list[str]:
        return sorted(str(m) for t, m in self._metric_groups() if t == task_label)

    def curve_metrics(self, task_label: str) -> list[str]:
        """The declared metrics this task recorded, headline first: what convergence figures draw."""
        info, recorded = self.infos[task_label], set(self.metric_names(task_label))
        names = [m for m in info.metrics if m in recorded]
        return sorted(names, key=lambda m: (m != info.headline, m != "train_loss"))


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


def load_stores(paths: Sequence[str | Path]) -> ReportData:
    """Read every store; a missing store or one without trials is a one-line :class:`OptbenchError`."""
    if not paths:
        raise OptbenchError("no results store given (expected one or more store folders)")
    folders = [Path(p) for p in paths]
    stores: list[tuple[str, Results]] = []
    trial_parts, metric_parts, declarations, diagnoses, tuning = [], [], {}, {}, []
    for label, folder in zip(_store_labels(folders), folders, strict=True):
        results = Store(folder).load(categorical=True)
        if results.trials.empty:
            raise OptbenchError(f"results store {folder} has no finished trials yet")
        stores.append((label, results))
        # the same trial id can appear in two stores (same config re-run): key rows by store too
        trial_parts.append(results.trials.assign(store=label))
        metric_parts.append(results.metrics)
        store = Store(folder)
        for key, declaration in store.read_declarations().items():
            declarations.setdefault(key, declaration)
        diagnoses.update({f"{label}/{k}": v for k, v in store.read_diagnoses().items()})
        tuned = store.read_tuning()
        if tuned is not None:
            tuning.append((label, tuned))
    trials = _normalise(pd.concat(trial_parts, ignore_index=True), len(stores) > 1)
    metrics = _metrics_table(metric_parts, [label for label, _ in stores], trials, judged=None)
    verdicts = judge(trials, declarations, metrics, with_store=len(stores) > 1)
    _copy_verdicts(trials, verdicts)
    metrics = _metrics_table(metric_parts, [label for label, _ in stores], trials, judged=metrics)
    data = ReportData(trials, metrics, stores, diagnoses=diagnoses, tuning=tuning, verdicts=verdicts)
    for task_label in data.tasks:
        data.infos[task_label] = task_info(task_label, verdicts.declarations[task_label])
    return data


def _copy_verdicts(trials: pd.DataFrame, verdicts: Verdicts) -> None:
    """The judge's per-trial numbers and configuration labels onto the trial rows the figures read."""
    judged = verdicts.trials.set_index("trial_id")
    ids = trials["trial_id"].astype(str)
    for column in ("config", "headline_final", "headline_best", "steps_to_target", "time_to_target", "reached"):
        trials[column] = judged[column].reindex(ids).to_numpy()


def _metrics_table(parts: list[pd.DataFrame], labels: list[str], trials: pd.DataFrame,
                   judged: pd.DataFrame | None) -> pd.DataFrame:
    """The long metrics of every store joined with the trial labels, text columns as categoricals.

    Categoricals because every section selects rows of this table (hundreds of thousands of them):
    selecting arrow-backed strings copies every string, a categorical copies small integer codes.
    ``judged``: this table built once already (before the judge labelled configurations): only the
    label columns are replaced.
    """
    if judged is not None:
        return _label_columns(judged, judged["trial_id"], trials.set_index("trial_id"))
    frames = []
    for label, part in zip(labels, parts, strict=True):
        ids = part["trial_id"].astype("category")  # already one when read with categorical=True
        ids = ids.cat.rename_categories([f"{label}/{c}" for c in ids.cat.categories])
        frames.append(part.assign(trial_id=ids))
    # categoricals with different categories concatenate as plain values: re-encode only then
    metrics = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    ids = metrics["trial_id"].astype("category")
    known = trials.set_index("trial_id")
    lookup = known.index.get_indexer(ids.cat.categories)
    codes = lookup[ids.cat.codes.to_numpy()]
    keep = codes >= 0
    columns = ["step", "epoch", "examples", "time", "metric", "value"]
    metrics = metrics[columns] if keep.all() else metrics.loc[keep, columns].reset_index(drop=True)
    codes = codes[keep]
    metrics["trial_id"] = pd.Categorical.from_codes(ids.cat.codes.to_numpy()[keep], categories=ids.cat.categories)
    metrics["metric"] = metrics["metric"].astype("category")
    return _label_columns(metrics, metrics["trial_id"], known)


def _label_columns(metrics: pd.DataFrame, ids: pd.Series, known: pd.DataFrame) -> pd.DataFrame:
    codes = known.index.get_indexer(ids.cat.categories)[ids.cat.codes.to_numpy()]
    for column in ("task_label", "optimizer", "config"):
        values = pd.Categorical(known[column].astype(str))
        metrics[column] = pd.Categorical.from_codes(values.codes[codes], categories=values.categories)
    metrics["seed"] = known["seed"].to_numpy()[codes]
    return metrics


def _normalise(trials: pd.DataFrame, multi_store: bool) -> pd.DataFrame:
    """Columns every later step relies on, filled for stores written before they existed."""
    trials["trial_id"] = trials["store"] + "/" + trials["trial_id"].astype(str)
    if "status" not in trials:
        trials["status"] = "completed"
    trials["status"] = trials["status"].fillna("completed").astype(str)
    for column in ("diverged_step", "diverged_reason", "error"):
        if column not in trials:
            trials[column] = None
    trials["config"] = ""  # the judge labels configurations (their code version included)
    # plain Python strings: the report selects rows of this (small) table hundreds of times, and each
    # selection of arrow-backed strings is a pyarrow take per column
    text = [c for c in trials.columns if pd.api.types.is_string_dtype(trials[c]) and not
            pd.api.types.is_object_dtype(trials[c])]
    return trials.astype({c: object for c in text})


def task_info(task_label: str, declaration: Declaration) -> TaskInfo:
    """What the figures and tables read of a task's declaration."""
    metrics = {name: MetricInfo.of(m) for name, m in declaration.metrics.items()}
    target = declaration.target
    info = TaskInfo(task_label, declaration.headline, declaration.headline_metric.direction, metrics,
                    surface=declaration.surface, critical_points=list(declaration.critical_points),
                    data_source=declaration.data_source, facts=dict(declaration.facts),
                    task_params=dict(declaration.task_params), notes=list(declaration.notes),
                    traces={name: t.kind for name, t in declaration.traces.items()})
    if target is not None:
        info.target = {"metric": target.metric, "value": float(target.value), "description": target.description,
                       "direction": declaration.metrics[target.metric].direction}
    return info


def downsample_steps(steps: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` of the distinct ``steps``, evenly spread, always keeping first and last."""
    unique = np.unique(steps)
    if unique.size <= max_points:
        return unique
    keep = np.unique(np.linspace(0, unique.size - 1, max_points).round().astype(int))
    return unique[keep]


CURVE_COLUMNS = ["config", "optimizer", "step", "epoch", "time", "median", "q25", "q75", "min", "max", "n"]


def seed_curves(data: ReportData, task_label: str, metric: str, max_points: int = 120) -> pd.DataFrame:
    """Median and IQR over the *completed* seeds of ``metric`` per config and step (drawing only).

    Steps are thinned to ``max_points`` per task before aggregating; the stored data is untouched. Cached:
    the convergence figure draws the headline against step and against time from the same curves.
    """
    key = ("seed curves", task_label, metric, max_points)
    if key not in data._cache:
        data._cache[key] = _seed_curves(data, task_label, metric, max_points)
    return data._cache[key]


def _seed_curves(data: ReportData, task_label: str, metric: str, max_points: int) -> pd.DataFrame:
    done = data.task_trials(task_label, completed_only=True)["trial_id"]
    rows = data.task_metric(task_label, metric)
    rows = rows[rows["trial_id"].isin(done)]
    if rows.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    rows = rows[rows["step"].isin(downsample_steps(rows["step"].to_numpy(), max_points))]
    grouped = rows.groupby(["config", "optimizer", "step"], sort=True)
    curves = grouped.agg(epoch=("epoch", "median"), time=("time", "median"), median=("value", "median"),
                         min=("value", "min"), max=("value", "max"), n=("value", "count"))
    curves["q25"] = grouped["value"].quantile(0.25)
    curves["q75"] = grouped["value"].quantile(0.75)
    return curves.reset_index()


def diverged_curves(data: ReportData, task_label: str, metric: str, max_points: int = 60) -> pd.DataFrame:
    """Each diverged trial's ``metric`` up to its divergence step (finite values only), for faded lines."""
    bad = data.task_trials(task_label)
    bad = bad[bad["status"] == "diverged"]
    rows = data.task_metric(task_label, metric)
    rows = rows[rows["trial_id"].isin(bad["trial_id"])]
    if rows.empty:
        return rows
    stop = bad.set_index("trial_id")["diverged_step"].astype(float).fillna(math.inf)
    rows = rows[(rows["step"] <= stop.reindex(rows["trial_id"]).to_numpy()) & np.isfinite(rows["value"])]
    parts = [g[g["step"].isin(downsample_steps(g["step"].to_numpy(), max_points))]
             for _, g in rows.groupby("trial_id", sort=True)]
    return pd.concat(parts) if parts else rows

"""The report's numbers: one or more stores read into labelled tables, and what every section derives.

Owns: combining stores (each trial labelled with its store), the configuration label a trial is grouped
under, what each task declares (read only from the store: ``tasks/<task_key>.json`` and the trial rows'
``headline_*`` / ``target_*`` columns; never guessed from a metric's name), the per-trial headline
score and time-to-target, and per-step curves aggregated over the *completed* seeds (downsampled for
drawing only). Stores written before declarations existed get labelled fallbacks (see
:class:`TaskInfo.notes`). Figures and the page only read what this module returns.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench import stats
from optbench.errors import OptbenchError
from optbench.store import Results, Store

# per-step bookkeeping the runner writes for every trial; not a task's own metric
BOOKKEEPING_METRICS = ("lr", "grad_norm", "x", "y", "epoch_train_loss")
DIAGNOSTIC_PREFIXES = ("hess_", "diag_", "gns_")
DIAGNOSTIC_NAMES = ("eps_sharpness", "grad_noise_scale")
TARGET_TOLERANCE = 0.05  # a derived target is 5 % of the way from the best median back to the start


def natural_key(text: str) -> list[Any]:
    """Sort key that compares the numbers inside a label as numbers."""
    parts = re.split(r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)", str(text))
    return [(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)]


def is_diagnostic(metric: str) -> bool:
    """Curvature/noise diagnostics recorded into the metrics table: they go to the diagnosis table."""
    return metric.startswith(DIAGNOSTIC_PREFIXES) or metric in DIAGNOSTIC_NAMES


@dataclass
class MetricInfo:
    """A metric's declared meaning (``direction`` None: the store does not say which way is better)."""

    name: str
    direction: str | None
    label: str
    unit: str = ""
    kind: str = "eval"
    resolution: float = 0.0  # values below it are numerically equal (see optbench.Metric)

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
    stores: list[tuple[str, Results]] = []
    trial_parts, metric_parts, task_infos, diagnoses, tuning = [], [], {}, {}, []
    for label, folder in zip(_store_labels(folders), folders, strict=True):
        results = Store(folder).load(categorical=True)
        if results.trials.empty:
            raise OptbenchError(f"results store {folder} has no finished trials yet")
        stores.append((label, results))
        # the same trial id can appear in two stores (same config re-run): key rows by store too
        trial_parts.append(results.trials.assign(store=label))
        metric_parts.append(results.metrics)
        store = Store(folder)
        for key, info in store.read_task_infos().items():
            task_infos.setdefault(key, info)
        diagnoses.update({f"{label}/{k}": v for k, v in store.read_diagnoses().items()})
        tuned = store.read_tuning()
        if tuned is not None:
            tuning.append((label, tuned))
    trials = _normalise(pd.concat(trial_parts, ignore_index=True), len(stores) > 1)
    metrics = _metrics_table(metric_parts, [label for label, _ in stores], trials)
    data = ReportData(trials, metrics, stores, diagnoses=diagnoses, tuning=tuning)
    for task_label in data.tasks:
        data.infos[task_label] = task_info(data, task_label, task_infos)
        add_scores(data, task_label)
    return data


def _metrics_table(parts: list[pd.DataFrame], labels: list[str], trials: pd.DataFrame) -> pd.DataFrame:
    """The long metrics of every store joined with the trial labels, text columns as categoricals.

    Categoricals because every section selects rows of this table (hundreds of thousands of them):
    selecting arrow-backed strings copies every string, a categorical copies small integer codes.
    """
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
    for column in ("task_label", "optimizer", "config"):
        values = pd.Categorical(known[column].astype(str))
        metrics[column] = pd.Categorical.from_codes(values.codes[codes], categories=values.categories)
    metrics["seed"] = known["seed"].to_numpy()[codes]
    return metrics


def _normalise(trials: pd.DataFrame, multi_store: bool) -> pd.DataFrame:
    """Columns every later step relies on, filled for stores written before they existed."""
    trials["trial_id"] = trials["store"] + "/" + trials["trial_id"].astype(str)
    # the runner measures time-to-target itself when a target is declared (newer stores)
    trials.attrs["runner_target"] = "steps_to_target" in trials and "target_value" in trials
    if "status" not in trials:
        trials["status"] = "completed"
    trials["status"] = trials["status"].fillna("completed").astype(str)
    for column in ("diverged_step", "diverged_reason", "error"):
        if column not in trials:
            trials[column] = None
    trials["config"] = config_label(trials, with_store=multi_store)
    # plain Python strings: the report selects rows of this (small) table hundreds of times, and each
    # selection of arrow-backed strings is a pyarrow take per column
    text = [c for c in trials.columns if pd.api.types.is_string_dtype(trials[c]) and not
            pd.api.types.is_object_dtype(trials[c])]
    return trials.astype({c: object for c in text})


def _declared_metrics(entries: list[dict[str, Any]]) -> dict[str, MetricInfo]:
    return {m["name"]: MetricInfo(m["name"], m.get("direction"), m.get("label") or m["name"], m.get("unit") or "",
                                  m.get("kind") or "eval", float(m.get("resolution") or 0.0)) for m in entries}


def _recorded_task_metrics(data: ReportData, task_label: str) -> list[str]:
    return [m for m in data.metric_names(task_label) if m not in BOOKKEEPING_METRICS and not is_diagnostic(m)]


def _first(trials: pd.DataFrame, column: str) -> Any:
    if column not in trials:
        return None
    values = trials[column].dropna()
    return values.iloc[0] if len(values) else None


def task_info(data: ReportData, task_label: str, task_infos: dict[str, dict[str, Any]]) -> TaskInfo:
    """The task's declarations: ``tasks/<key>.json``, else the row columns, else a labelled fallback."""
    trials = data.task_trials(task_label)
    stored = task_infos.get(str(_first(trials, "task_key")), {}) if _first(trials, "task_key") else {}
    params = _json(_first(trials, "task_params"))
    if stored.get("metrics"):
        metrics = _declared_metrics(stored["metrics"])
        headline = stored.get("headline") or "train_loss"
        info = TaskInfo(task_label, headline, metrics.get(headline, MetricInfo(headline, "min", headline)).direction
                        or "min", metrics, surface=stored.get("surface"),
                        critical_points=list(stored.get("critical_points") or []),
                        data_source=stored.get("data_source"), facts=dict(stored.get("facts") or {}),
                        task_params=stored.get("task_params") or params)
        target = stored.get("target")
    else:
        info = _info_from_rows(data, task_label, trials, params)
        target = _target_from_rows(trials)
    if target and target.get("value") is not None and math.isfinite(float(target["value"])):
        info.target = {**target, "value": float(target["value"]), "derived": False,
                       "direction": target.get("direction") or info.metric(target["metric"]).direction
                       or info.direction}
    return info


def _info_from_rows(data: ReportData, task_label: str, trials: pd.DataFrame, params: dict[str, Any]) -> TaskInfo:
    recorded = _recorded_task_metrics(data, task_label)
    headline, direction = _first(trials, "headline_metric"), _first(trials, "headline_direction")
    metrics = {m: MetricInfo(m, None, m) for m in recorded}
    metrics["train_loss"] = MetricInfo("train_loss", "min", "training loss (minibatch)", kind="step")
    if headline and direction in ("min", "max"):
        metrics[headline] = MetricInfo(headline, direction, headline)
        return TaskInfo(task_label, headline, direction, metrics, task_params=params,
                        notes=["this store has no tasks/<key>.json: metric meanings other than the headline "
                               "are not declared"])
    note = ("this store declares no metrics (written before tasks declared them): ranked by the training "
            "loss, lower is better; other metrics are drawn but not ranked")
    return TaskInfo(task_label, "train_loss", "min", metrics, task_params=params, notes=[note])


def _target_from_rows(trials: pd.DataFrame) -> dict[str, Any] | None:
    metric, value = _first(trials, "target_metric"), _first(trials, "target_value")
    if metric is None or value is None:
        return None
    return {"metric": metric, "value": value, "description": _first(trials, "target_description") or ""}


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _per_trial_extreme(rows: pd.DataFrame, maximize: bool) -> pd.Series:
    grouped = rows.groupby("trial_id", sort=False)["value"]
    return grouped.max() if maximize else grouped.min()


def add_scores(data: ReportData, task_label: str) -> None:
    """Per trial of the task: ``headline_best`` / ``headline_final`` and steps/time/examples to target.

    Only completed trials get numbers; diverged and failed ones get NaN, so every median, axis limit,
    sensitivity point and profile leaves them out (they are counted and drawn faded elsewhere).
    A declared target comes from the store; without one a target is derived and labelled so.
    """
    info, trials = data.infos[task_label], data.trials
    mask = (trials["task_label"] == task_label).to_numpy()
    done = mask & (trials["status"] == "completed").to_numpy()
    rows = data.task_metric(task_label, info.headline)
    rows = rows[np.isfinite(rows["value"])]
    ids = trials.loc[done, "trial_id"]
    best_col, final_col = f"best_{info.headline}", f"final_{info.headline}"
    curve_best = _per_trial_extreme(rows, info.maximize).reindex(ids)
    curve_final = rows.groupby("trial_id", sort=False)["value"].last().reindex(ids)
    stored_best = trials.loc[done, best_col] if best_col in trials and info.headline != "train_loss" else None
    for column, stored, curve in (("headline_best", stored_best, curve_best),
                                  ("headline_final", trials.loc[done, final_col] if final_col in trials and
                                   info.headline != "train_loss" else None, curve_final)):
        if column not in trials:
            trials[column] = math.nan
        values = curve.to_numpy(dtype=float)
        if stored is not None:
            stored_values = pd.to_numeric(stored, errors="coerce").to_numpy(dtype=float)
            values = np.where(np.isnan(stored_values), values, stored_values)
        floor = info.metric(info.headline).resolution
        if floor > 0 and not info.maximize:  # below its resolution a metric cannot rank anything
            values = np.where(np.isnan(values), values, np.maximum(values, floor))
        trials.loc[done, column] = values
    data.invalidate_trials()
    _add_target(data, task_label, rows, done)
    data.invalidate_trials()


def _add_target(data: ReportData, task_label: str, rows: pd.DataFrame, done: np.ndarray) -> None:
    info, trials = data.infos[task_label], data.trials
    for column in ("steps_to_target", "time_to_target"):
        if column not in trials:
            trials[column] = math.nan
    trials.loc[(trials["task_label"] == task_label).to_numpy() & ~done, ["steps_to_target", "time_to_target"]] = \
        math.nan
    if info.target is None:
        info.target = _derived_target(data, task_label, rows)
        if info.target is None:
            return
        info.notes.append(f"derived target: {int(TARGET_TOLERANCE * 100)} % from the best median back to the "
                          "start — this task declares none")
    elif trials.attrs.get("runner_target") and trials.loc[done, "steps_to_target"].notna().any():
        # the runner measured it (NaN there = never reached)
        trials.loc[done, ["steps_to_target", "time_to_target"]] = \
            trials.loc[done, ["steps_to_target", "time_to_target"]].fillna(math.inf).to_numpy()
        return
    target = info.target
    metric_rows = rows if target["metric"] == info.headline else data.task_metric(task_label, target["metric"])
    maximize = target["direction"] == "max"
    reached = metric_rows[metric_rows["value"] >= target["value"]] if maximize else \
        metric_rows[metric_rows["value"] <= target["value"]]
    first = reached.sort_values(["trial_id", "step"]).groupby("trial_id", sort=False).first()
    ids = trials.loc[done, "trial_id"]
    trials.loc[done, "steps_to_target"] = first["step"].reindex(ids).fillna(math.inf).to_numpy(dtype=float)
    trials.loc[done, "time_to_target"] = first["time"].reindex(ids).fillna(math.inf).to_numpy(dtype=float)


def _derived_target(data: ReportData, task_label: str, rows: pd.DataFrame) -> dict[str, Any] | None:
    info = data.infos[task_label]
    completed = data.task_trials(task_label, completed_only=True)
    rows = rows[rows["trial_id"].isin(completed["trial_id"])]
    if rows.empty:
        return None
    best_by_config = completed.groupby("config")["headline_best"].median().dropna()
    if best_by_config.empty:
        return None
    best = float(best_by_config.max() if info.maximize else best_by_config.min())
    initial = float(rows.sort_values("step").groupby("trial_id", sort=False)["value"].first().median())
    value = stats.derive_target(best, initial, TARGET_TOLERANCE, maximize=info.maximize)
    sign = "≥" if info.maximize else "≤"
    return {"metric": info.headline, "value": value, "direction": info.direction, "derived": True,
            "description": f"{info.headline} {sign} {value:.4g} (derived: {int(TARGET_TOLERANCE * 100)} % of the way "
                           f"from the best median {best:.4g} back to the start {initial:.4g})"}


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

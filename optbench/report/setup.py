"""The report's Setup section: what reproduces the study, read from the store.

Owns the per-configuration table (fully resolved optimizer, schedule and task parameters as stored, the
budget each trial actually ran, data source, threads, device, code version) and the run history with
no-op reruns folded together (identical run configurations are one block listing every start).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from optbench.report.data import ReportData


def _params(text: Any) -> str:
    """``k=v, ...`` of a stored JSON object (sorted; every default the runner resolved is in it)."""
    try:
        values = json.loads(text) if isinstance(text, str) and text else (text or {})
    except json.JSONDecodeError:
        return str(text)
    if not isinstance(values, dict) or not values:
        return "—"
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(values.items()))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def _values(group: pd.DataFrame, column: str, fmt: str = "{}") -> str:
    if column not in group:
        return "—"
    values = sorted({fmt.format(v) for v in group[column].dropna()})
    return ", ".join(values) if values else "—"


def config_rows(data: ReportData, task_label: str) -> list[dict[str, str]]:
    """One row per configuration of a task: everything needed to run it again."""
    info = data.infos[task_label]
    rows = []
    for config, group in data.task_trials(task_label).groupby("config", sort=True):
        first = group.iloc[0]
        budget = f"{_values(group, 'steps')} steps, {_values(group, 'epochs', '{:.3g}')} epochs"
        rows.append({
            "configuration": str(config),
            "optimizer parameters (resolved)": _params(first.get("optimizer_params")),
            "schedule parameters": _params(first.get("schedule_params")),
            "task parameters": _params(first.get("task_params")) if "task_params" in group else "—",
            "batch size": str(first.get("batch_size")),
            "seeds": ", ".join(str(s) for s in sorted(group["seed"].unique())),
            "budget as run": budget,
            "threads": _values(group, "threads"), "device": _values(group, "device"),
            "code": _values(group, "code_version"),
            "data source": str(info.data_source or "—"),
        })
    return rows


def dedup_runs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's runs with identical configurations folded into one entry listing every start."""
    folded: dict[str, dict[str, Any]] = {}
    for run in manifest.get("runs", []):
        config = run.get("config", {})
        key = json.dumps(config, sort_keys=True, default=str)
        entry = folded.setdefault(key, {"config": config, "environment": run.get("environment", {}),
                                        "started": []})
        entry["started"].append(str(run.get("started", "?")))
        entry["environment"] = run.get("environment", {})  # the latest environment it ran in
    return list(folded.values())


def _listing(value: Any) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


ENVIRONMENT_KEYS = ("optbench", "python", "torch", "numpy", "pandas", "platform", "cpu", "cpu_count",
                    "torch_threads", "load_avg", "gpu", "git_commit")


def _load(run: dict[str, Any]) -> float | None:
    value = run.get("config", {}).get("load_avg", run.get("environment", {}).get("load_avg"))
    value = value[0] if isinstance(value, (list, tuple)) and value else value
    return float(value) if isinstance(value, (int, float)) else None


def runs_digest(manifest: dict[str, Any]) -> str:
    """One line for a store's run history (a suite store records one run per tuning round): how many runs,
    the first and last start, and the 1-minute load average range they started under."""
    runs = manifest.get("runs", [])
    if not runs:
        return "no runs recorded"
    starts = sorted(str(r.get("started", "?")) for r in runs)
    loads = [x for x in map(_load, runs) if x is not None]
    text = f"{len(runs)} run{'s' if len(runs) != 1 else ''}, started {starts[0]}"
    text += f" to {starts[-1]}" if len(runs) > 1 else ""
    return text + (f"; load average {min(loads):.1f}–{max(loads):.1f} at the starts" if loads else "")


def stores_section(data: ReportData) -> list[dict[str, Any]]:
    """Per store: folder, dates, status counts and the folded run history (config and environment)."""
    stores = []
    for label, results in data.stores:
        runs = []
        for run in dedup_runs(results.manifest):
            config, env = run["config"], run["environment"]
            starts = run["started"]
            runs.append({
                "started": starts[0] if len(starts) == 1 else f"{starts[0]} (and {len(starts) - 1} identical "
                                                             f"rerun{'s' if len(starts) > 2 else ''}: "
                                                             f"{', '.join(starts[1:])})",
                "config": [(k, _listing(v)) for k, v in sorted(config.items())],
                "environment": [(k, _listing(env.get(k))) for k in ENVIRONMENT_KEYS if k in env]})
        trials = data.trials[data.trials["store"] == label]
        stores.append({"label": label, "path": str(results.path), "digest": runs_digest(results.manifest),
                       "created": results.manifest.get("created", "?"),
                       "updated": results.manifest.get("updated", "?"), "runs": runs, "n_trials": len(trials),
                       "statuses": trials["status"].value_counts().to_dict()})
    return stores

"""The shipped baselines: a compact copy of a suite store's results, packaged under ``baselines/<suite>/``.

Made by ``scripts/make_baselines.py`` (it runs the seven builtins through the suite and calls
:func:`export`). The folder holds

- ``results.parquet``: one row per final trial (:func:`optbench.suite.results.suite_results`), plus the
  chosen setting's resolved hyperparameters and everything needed to rerun it (:func:`replay`);
- ``curves.parquet``: the final trials' declared metrics, downsampled (every evaluation point, ≤ 64
  log-spaced training steps, and the step where the target was first reached);
- ``suite.json``: the run record (choices, search trial ids, timings); ``manifest.json``: how, when and on
  what it was made. Step metrics reproduce bit-for-bit from the command on the same torch version (CPU, one
  thread); time columns are machine-specific.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.errors import OptbenchError
from optbench.store import Store, environment
from optbench.suite.results import judged, read_record, record_targets, suite_results

CURVE_POINTS = 64
REPLAY_COLUMNS = ["task", "task_params", "optimizer_name", "optimizer_params", "schedule", "schedule_params",
                  "batch_size", "budget_steps", "budget_epochs", "eval_every"]


def baselines_dir(suite: str) -> Path:
    return Path(str(resources.files("optbench.suite") / "baselines" / suite))


def _downsample_steps(steps: np.ndarray, keep: float) -> np.ndarray:
    """≤ CURVE_POINTS log-spaced steps of ``steps`` (first and last included), plus ``keep`` if present."""
    steps = np.unique(steps)
    if len(steps) <= CURVE_POINTS:
        return steps
    picks = np.unique(np.geomspace(1, len(steps), CURVE_POINTS).astype(int) - 1)
    chosen = set(steps[picks].tolist()) | {int(steps[0]), int(steps[-1])}
    if np.isfinite(keep):
        chosen.add(int(keep))
    return np.array(sorted(s for s in chosen if s in set(steps.tolist())))


def compact_curves(store: Store, results: pd.DataFrame, declared: dict[str, dict[str, str]]) -> pd.DataFrame:
    """The final trials' declared metrics, downsampled; ``declared[trial_id]`` maps metric → kind."""
    metrics = store.read_metrics(set(results["trial_id"]))
    parts = []
    for row in results.itertuples():
        kinds = declared[row.trial_id]
        mine = metrics[(metrics["trial_id"] == row.trial_id) & metrics["metric"].isin(kinds)]
        for _metric, curve in mine.groupby("metric"):
            curve = curve[curve["step"].isin(_downsample_steps(curve["step"].to_numpy(), row.steps))]
            parts.append(curve.assign(workload=row.workload, optimizer=row.optimizer, seed=row.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _declared_kinds(store: Store, trials: pd.DataFrame) -> dict[str, dict[str, str]]:
    infos = store.read_task_infos()
    return {r.trial_id: {m["name"]: m["kind"] for m in infos[r.task_key]["metrics"]} for r in trials.itertuples()}


def merged_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One suite record from several stores of the same suite (their workloads' choices and runs joined)."""
    merged = json.loads(json.dumps(records[0]))
    for record in records[1:]:
        if (record["suite"], record["version"]) != (merged["suite"], merged["version"]):
            raise OptbenchError("the stores hold different suites; export them separately")
        for workload_id, workload in record["workloads"].items():
            merged["workloads"].setdefault(workload_id, {**workload, "choices": {}})["choices"].update(
                workload["choices"])
        merged["runs"] += record["runs"]
    return merged


def _store_part(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results with what a replay needs, downsampled curves) of one suite store."""
    store, results = Store(path), suite_results(path)
    if results.empty:
        return results, pd.DataFrame()
    trials = store.read_trials().set_index("trial_id").loc[results["trial_id"]].reset_index()
    replay = trials[["trial_id", *[c for c in REPLAY_COLUMNS if c != "optimizer_name"]]].copy()
    replay["optimizer_name"] = trials["optimizer"]
    return results.merge(replay, on="trial_id"), compact_curves(store, results, _declared_kinds(store, trials))


def export(store_paths: list[str | Path], dest: str | Path, command: str, notes: str = "") -> Path:
    """Write the compact baselines of the suite stores at ``store_paths`` (one suite) into ``dest``."""
    paths = [Path(p) for p in store_paths]
    record = merged_record([read_record(p) for p in paths])
    parts = [_store_part(p) for p in paths]
    # a trial recorded by two stores (a store resumed with other optimizers) is the same trial: keep it once
    results = pd.concat([r for r, _ in parts], ignore_index=True).drop_duplicates("trial_id")
    if results.empty:
        raise OptbenchError(f"{', '.join(map(str, paths))}: no finished suite trials to export")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    results.to_parquet(dest / "results.parquet", index=False)
    curves = pd.concat([c for _, c in parts], ignore_index=True)
    curves.drop_duplicates(["trial_id", "step", "metric"]).to_parquet(dest / "curves.parquet", index=False)
    (dest / "suite.json").write_text(json.dumps(record, indent=1, default=str))
    manifest = {"suite": record["suite"], "version": record["version"], "command": command, "notes": notes,
                "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "optimizers": sorted(results["optimizer"].unique()), "n_final_trials": len(results),
                "runs": record["runs"], "environment": environment(),
                "reproducible": "step metrics and steps to target: bit-for-bit from the command on the same "
                                "torch version, CPU, --threads 1",
                "machine_specific": ["time_to_target", "train_time", "steps_per_second", "load_avg_start",
                                     "runs[].elapsed_s", "choices[].wall_seconds"]}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return dest


def load_baselines(suite: str, version: int | None = None) -> pd.DataFrame:
    """The shipped baseline results of ``suite`` (empty when none are shipped), checked against ``version``."""
    folder = baselines_dir(suite)
    if not (folder / "results.parquet").is_file():
        return pd.DataFrame()
    manifest = json.loads((folder / "manifest.json").read_text())
    if version is not None and int(manifest["version"]) != int(version):
        raise OptbenchError(f"the shipped baselines are for {suite} v{manifest['version']}, the store is v{version}")
    frame = pd.read_parquet(folder / "results.parquet")
    record = json.loads((folder / "suite.json").read_text())
    return judged(frame, load_curves(suite), record_targets(record))  # the same judge as for a user's store


def load_curves(suite: str) -> pd.DataFrame:
    path = baselines_dir(suite) / "curves.parquet"
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def replay(row: pd.Series | dict[str, Any], out: str | Path, threads: int = 1) -> pd.DataFrame:
    """Rerun one shipped final trial (its exact task, setting, seed and budget); returns its metrics."""
    from optbench.spec import Spec
    from optbench.study import run

    task = Spec(row["task"], json.loads(row["task_params"]))
    optimizer = Spec(row["optimizer_name"], json.loads(row["optimizer_params"]))
    schedule = Spec(row["schedule"], json.loads(row["schedule_params"]))
    budget = {"steps": _int_or_none(row["budget_steps"]), "epochs": _float_or_none(row["budget_epochs"])}
    run([task], [optimizer], [schedule], batch_sizes=[row["batch_size"]], seeds=[int(row["seed"])], out=out,
        threads=threads, device="cpu", save_checkpoints=False, eval_every=_int_or_none(row["eval_every"]), **budget)
    return Store(out).read_metrics()


def _int_or_none(value: Any) -> int | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)

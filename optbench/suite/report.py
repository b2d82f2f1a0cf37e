"""A suite store side by side with the shipped baselines, in one HTML report.

The baselines ship as compact tables (``results.parquet``: one row per final trial; ``curves.parquet``:
downsampled declared metrics), not as a store, because a report of them needs only that. To draw them next to
a user's suite store, :func:`baselines_as_store` lays them out as a store -- trial rows, metric rows, each
workload's task declarations (with the suite's target) -- in a folder the caller owns (a temporary one for
``optbench suite report``), and the ordinary report reads both stores: per workload and across workloads,
with its plain-words summaries, the baselines labelled by their folder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from optbench.errors import OptbenchError
from optbench.registry import Registry, load_registry
from optbench.store import Store
from optbench.suite.baselines import load_baselines, load_curves
from optbench.suite.definition import Suite, Workload
from optbench.suite.results import read_record
from optbench.suite.scoring import Scored


def _task_info(workload: Workload, params: dict[str, Any], registry: Registry) -> dict[str, Any]:
    from optbench.plan import TaskCache
    from optbench.study import task_info

    spec = workload.task_spec
    name = registry.get("task", spec.name).name
    task = TaskCache(registry).get(name, params)
    config = SimpleNamespace(task=name, task_label=spec.label, task_params=params, data_source=task.data_source)
    info = task_info(config, task)  # type: ignore[arg-type]
    target = workload.resolve_target(registry)  # the suite's for its budget where the task's is for another
    info["target"] = {"metric": target.metric, "value": target.value, "description": target.description,
                      "direction": target.direction}
    return info


def _trial_row(row: pd.Series, task_key: str, label: str, metrics: pd.DataFrame) -> dict[str, Any]:
    finals = metrics.sort_values("step").groupby("metric")["value"].last()
    reached = row["steps"] == row["steps"] and row["steps"] != float("inf")
    out = {
        "trial_id": row["trial_id"], "task_key": task_key, "task": row["task"], "task_label": label,
        "task_params": row["task_params"], "optimizer": row["optimizer_name"], "optimizer_label": row["chosen"],
        "optimizer_params": row["optimizer_params"], "schedule": row["schedule"], "schedule_label": row["schedule"],
        "schedule_params": row["schedule_params"], "batch_size": str(row["batch_size"]), "seed": int(row["seed"]),
        "status": row["status"], "diverged_reason": row["diverged_reason"],
        "steps": int(metrics["step"].max()) if len(metrics) else 0, "train_time": row["train_time"],
        "steps_per_second": row["steps_per_second"], "load_avg_start": row["load_avg_start"],
        "target_metric": row["target_metric"], "target_value": row["target_value"],
        "steps_to_target": row["steps"] if reached else float("nan"),
        "time_to_target": row["time_to_target"] if reached else float("nan"),
    }
    out.update({f"final_{name}": float(value) for name, value in finals.items() if name != "train_loss"})
    return out


def baselines_as_store(suite: Suite, dest: str | Path, registry: Registry | None = None,
                       workloads: set[str] | None = None) -> Path:
    """Lay the shipped baselines of ``suite`` (of ``workloads``, default all) out as a store at ``dest``."""
    registry = registry or load_registry()
    results, curves = load_baselines(suite.name, suite.version), load_curves(suite.name)
    if results.empty:
        raise OptbenchError(f"no baselines are shipped for {suite.name}")
    if workloads is not None:
        results = results[results["workload"].isin(workloads)]
    store = Store(dest).create()
    workloads = {w.id: w for w in suite.workloads}
    try:
        for workload_id, group in results.groupby("workload", sort=True):
            workload = workloads[workload_id]
            key = f"baseline-{workload_id}"
            store.write_task_info(key, _task_info(workload, json.loads(group["task_params"].iloc[0]), registry))
            for _, row in group.iterrows():
                metrics = curves[curves["trial_id"] == row["trial_id"]]
                store.write_trial(_trial_row(row, key, workload.task_spec.label, metrics),
                                  metrics.drop(columns=["workload", "optimizer", "seed"], errors="ignore"))
        store.update_manifest({"baselines": f"{suite.name} v{suite.version}", "n_trials": len(results)})
    finally:
        store.release()
    return store.path


def final_trials_store(store: str | Path, dest: str | Path) -> Path:
    """A copy of the suite store at ``store`` holding only its final (fresh-seed) trials, like the baselines:
    the search trials ran on the search seed alone and would read as one-seed verdicts."""
    import shutil

    source, dest = Path(store), Path(dest)
    final = {i for w in read_record(source)["workloads"].values() for c in w["choices"].values()
             for i in c["final_trials"]}
    for folder in ("trials", "metrics"):
        (dest / folder).mkdir(parents=True)
        for trial_id in sorted(final):
            if (source / folder / f"{trial_id}.parquet").is_file():
                shutil.copy2(source / folder / f"{trial_id}.parquet", dest / folder)
    shutil.copytree(source / "tasks", dest / "tasks")
    for name in ("manifest.json", "tune.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
    return dest


def leaderboard_section(scored: Scored, mine: set[str]) -> dict[str, Any]:
    """The suite page's first section: ``suite score``'s own table (the same :class:`Scored`), a sentence on
    where each of the store's optimizers stands, the performance profile per optimizer (its chosen setting on
    each workload) and the per-workload median steps."""
    from optbench.report.figures import Palette, performance_profile
    from optbench.report.page import Cell, Table, fmt
    from optbench.stats import performance_profile as profile

    table = scored.table
    total = len(table)
    sentences = [f"{row.optimizer} scores {row.score:.3f} (seed range {row.score_min:.3f}–{row.score_max:.3f}): "
                 f"rank {row.rank} of {total}, target reached on {row.reached} of {row.workloads} workloads."
                 for row in table.itertuples() if row.optimizer in mine]
    sentences.append("Score: area under the performance profile of the median steps to target, "
                     f"τ = 1..{scored.tau_max:g} (AlgoPerf's convention over steps; a diverged seed never reaches "
                     "the target); the same "
                     "numbers as `optbench suite score`.")
    sentences += [f"Note: {note}." for note in scored.notes]
    rows = [[Cell(str(r.rank), r.rank, css="best" if r.optimizer in mine else ""), Cell(str(r.optimizer)),
             Cell(f"{r.score:.3f}", r.score), Cell(f"{r.score_min:.3f}–{r.score_max:.3f}", r.score_min),
             Cell(f"{r.reached}/{r.workloads}", r.reached), Cell(str(r.source))] for r in table.itertuples()]
    scores = Table(["rank", "optimizer", "score", "seed range", "targets reached", "source"], rows,
                   "Seed range: the score from each seed index alone, against the fastest medians.")
    steps = scored.steps
    step_rows = [[Cell(str(o)), *[Cell(fmt(v), None if v == float("inf") else v) for v in values]]
                 for o, values in steps.iterrows()]
    palette = Palette(steps.index, pd.DataFrame({"config": steps.index, "optimizer": steps.index}))
    figure = performance_profile(profile(steps.T.clip(lower=1.0)), {o: o for o in steps.index}, palette,
                                 "median steps to target")
    return {"sentences": sentences, "scores": scores, "figure": figure,
            "steps": Table(["optimizer", *map(str, steps.columns)], step_rows,
                           "Median steps to target over seeds (never: the median seed did not reach it).")}


def suite_report(store: str | Path, out: str | Path, suite: Suite, registry: Registry | None = None) -> Path:
    """One HTML page: ``suite score``'s leaderboard for the store beside the shipped baselines, then its final
    trials and the baselines workload by workload (built in a temporary folder; only ``out`` is written)."""
    from optbench.report import build_report
    from optbench.suite.scoring import score_stores

    name = Path(store).resolve().name
    ran = set(read_record(store)["workloads"])
    scored = score_stores([str(store)], suite_name=suite.name)
    mine = set(scored.trials.loc[scored.trials["source"] == str(store), "optimizer"])
    with tempfile.TemporaryDirectory(prefix="optbench-suite-report-") as folder:
        mine_store = final_trials_store(store, Path(folder) / name)
        baselines = baselines_as_store(suite, Path(folder) / f"baselines-{suite.name}", registry, ran)
        return build_report([mine_store, baselines], out, title=f"{name} vs the {suite.name} baselines",
                            leaderboard=leaderboard_section(scored, mine))

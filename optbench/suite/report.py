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
import math
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


def _shipped_manifest(suite: Suite) -> dict[str, Any]:
    """The baselines' own run history and environment (not this machine's), as a store manifest."""
    from optbench.suite.baselines import baselines_dir

    shipped = json.loads((baselines_dir(suite.name) / "manifest.json").read_text())
    runs = [{"started": run.get("started", "?"),
             "config": {**{k: v for k, v in run.items() if k != "started"}, "command": shipped.get("command"),
                        "load_avg": run.get("load_avg_start")},
             "environment": shipped.get("environment", {})} for run in shipped.get("runs", [])]
    return {"created": shipped.get("exported"), "updated": shipped.get("exported"), "runs": runs,
            "baselines": f"{suite.name} v{suite.version}"}


def stored_task_infos(stores: list[str | Path]) -> dict[str, dict[str, Any]]:
    """Per workload the stores ran: the task's declarations as a store recorded them, with the workload's
    target as the suite run recorded it -- what the baselines' copy needs, without building the task."""
    infos: dict[str, dict[str, Any]] = {}
    for path in stores:
        record, store = read_record(path), Store(path)
        tasks, trials = store.read_task_infos(), store.read_trials()
        keys = trials.set_index("trial_id")["task_key"].astype(str).to_dict() if not trials.empty else {}
        for workload_id, workload in record["workloads"].items():
            ids = [t for c in workload["choices"].values() for t in c["final_trials"] if t in keys]
            if ids and keys[ids[0]] in tasks and workload_id not in infos:
                target = workload["target"]
                infos[workload_id] = {**tasks[keys[ids[0]]], "target": {
                    k: target.get(k) for k in ("metric", "value", "description", "direction")}}
    return infos


def baselines_as_store(suite: Suite, dest: str | Path, registry: Registry | None = None,
                       workloads: set[str] | None = None, infos: dict[str, dict[str, Any]] | None = None) -> Path:
    """Lay the shipped baselines of ``suite`` (of ``workloads``, default all) out as a store at ``dest``.
    ``infos``: task declarations by workload already at hand (:func:`stored_task_infos`); the others are
    built through the registry (builtin tasks)."""
    infos = infos or {}
    registry = registry or (load_registry() if workloads is None or set(workloads) - set(infos) else None)
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
            info = infos.get(workload_id) or _task_info(workload, json.loads(group["task_params"].iloc[0]),
                                                        registry)  # type: ignore[arg-type]
            store.write_task_info(key, info)
            for _, row in group.iterrows():
                metrics = curves[curves["trial_id"] == row["trial_id"]]
                store.write_trial(_trial_row(row, key, workload.task_spec.label, metrics),
                                  metrics.drop(columns=["workload", "optimizer", "seed"], errors="ignore"))
        store.write_json("manifest.json", _shipped_manifest(suite))
    finally:
        store.release()
    return store.path


def final_trials_store(store: str | Path, dest: str | Path) -> Path:
    """A copy of the suite store at ``store`` holding only its final (fresh-seed) trials, like the baselines:
    the search trials ran on the search seed alone and would read as one-seed verdicts. Its ``tune.json``
    gets the judge's verdict on each workload's fresh seeds where the run left none."""
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
    shutil.copy2(source / "manifest.json", dest / "manifest.json")
    tuning = Store(source).read_tuning()
    if tuning is not None:
        if not tuning.get("significance"):
            from optbench.tune import significance

            tuning["significance"] = significance(Store(source), tuning.get("choices", []))
        (dest / "tune.json").write_text(json.dumps(tuning, default=str))
    return dest


def _short_setting(chosen: str) -> str:
    """``lion[betas=0.8966/0.99,lr=0.06688]`` with a space after each comma, so a narrow cell can wrap."""
    return chosen.replace(",", ", ")


def settings_table(scored: Scored, records: dict[str, dict[str, Any]], mine: set[str]) -> Any:
    """Per workload and optimizer (every one scored): the setting it ran, whether tuned, the search trials it
    used and the fresh seeds it was scored on, from each suite record (the stores' and the baselines')."""
    from optbench.report.page import Cell, Table

    trials = scored.trials
    names = trials["name"] if "name" in trials else trials["optimizer"]  # the name each store gave it
    scored_as = dict(zip(zip(trials["source"].astype(str), names, strict=True), trials["optimizer"], strict=True))
    rows = []
    for workload in scored.steps.columns:
        for source, record in records.items():
            for choice in record["workloads"].get(workload, {}).get("choices", {}).values():
                optimizer = scored_as.get((source, choice["optimizer"]))
                if optimizer is None:
                    continue  # a baseline replaced by the store's own run of that optimizer
                css = "mine" if optimizer in mine else ""
                rows.append([Cell(str(workload), css=css), Cell(str(optimizer)),
                             Cell(_short_setting(str(choice["chosen"])), css="label"),
                             Cell("tuned" if choice["tuned"] else "as given"),
                             Cell(str(len(choice["search_trials"])), len(choice["search_trials"])),
                             Cell(str(len(choice["final_trials"])), len(choice["final_trials"]))])
    return Table(["workload", "optimizer", "setting run", "track", "search trials", "fresh seeds"], rows,
                 "Search trials: the tuning budget used on that workload (0: run as given); fresh seeds: the "
                 "trials scored.")


def _steps_cell(row: Any, unit: str) -> Any:
    from optbench.report.page import Cell

    if row is None:
        return Cell("not run")
    median, low, high = row.steps_median, row.steps_min, row.steps_max
    number = (lambda v: f"{v:.0f}") if unit == "steps" else (lambda v: f"{v:.3g} s")
    diverged = f" ({row.diverged} diverged)" if row.diverged else ""
    if not math.isfinite(median):
        return Cell(f"never{diverged}", math.inf, title="the median seed did not reach the target")
    span = "" if low == high else (f" [{number(low)}–{number(high) if math.isfinite(high) else 'never'}]")
    return Cell(f"{number(median)}{span}{diverged}", median)


def steps_table(scored: Scored, mine: set[str]) -> Any:
    """Workloads (rows) × optimizers (columns): median [min–max] over seeds of steps (or seconds) to target."""
    from optbench.report.page import Cell, Table
    from optbench.suite.score import seed_spread

    spread = seed_spread(scored.trials, scored.column).set_index(["workload", "optimizer"])
    optimizers = list(scored.table["optimizer"])
    rows = []
    for workload in scored.steps.columns:
        cells = [_steps_cell(next(iter(spread.loc[[(workload, o)]].itertuples()), None)
                             if (workload, o) in spread.index else None, scored.by) for o in optimizers]
        rows.append([Cell(str(workload)), *cells])
    columns = ["workload", *[f"{o} (yours)" if o in mine else str(o) for o in optimizers]]
    unit = "steps" if scored.by == "steps" else "training time"
    return Table(columns, rows, f"Median {unit} to target over seeds [fastest–slowest seed]; never: the median seed "
                 "did not reach the target (a diverged seed never does); the judge's numbers, as `optbench suite "
                 "score`.")


def _sentences(scored: Scored, mine: set[str]) -> list[str]:
    from optbench.suite.cli_view import SEED_RANGE

    measure = "steps" if scored.by == "steps" else "training time (the clock of the machine it ran on)"
    out = []
    for row in scored.table.itertuples():
        if row.optimizer in mine:
            total = int((scored.table["track"] == row.track).sum())
            out.append(f"{row.optimizer} scores {row.score:.3f} (seeds alone: {row.score_min:.3f}–"
                       f"{row.score_max:.3f}): rank {row.rank} of {total} on the {row.track} leaderboard, "
                       f"target reached on {row.reached} of {row.workloads} workloads.")
    out.append(f"Score: area under the performance profile of the median {measure} to target, "
               f"τ = 1..{scored.tau_max:g} (AlgoPerf's convention, by {scored.by}; a diverged seed never reaches "
               "the target); the same numbers as `optbench suite score"
               f"{' --by time' if scored.by == 'time' else ''}`. The {SEED_RANGE}.")
    if scored.by == "time":
        out.append("Times are machine-specific: the baselines' clock is the machine they were made on.")
    return out + [f"Note: {note}." for note in scored.notes]


def leaderboard_section(scored: Scored, mine: set[str], records: dict[str, dict[str, Any]] | None = None
                        ) -> dict[str, Any]:
    """The suite page's first section: ``suite score``'s own tables (the same :class:`Scored`, one per track),
    a sentence on where each of the stores' optimizers stands, the performance profile per optimizer, the
    per-workload steps to target and (given the suite ``records`` by source) each one's settings."""
    from optbench.report.figures import Palette, performance_profile
    from optbench.report.page import Cell, Table
    from optbench.stats import performance_profile as profile

    scores = []
    for track, part in scored.table.groupby("track", sort=False):
        rows = [[Cell(str(r.rank), r.rank, css="mine" if r.optimizer in mine else ""), Cell(str(r.optimizer)),
                 Cell(f"{r.score:.3f}", r.score), Cell(f"{r.score_min:.3f}–{r.score_max:.3f}", r.score_min),
                 Cell(f"{r.reached}/{r.workloads}", r.reached), Cell(str(r.source), css="label")]
                for r in part.itertuples()]
        scores.append(("Tuned under the suite's protocol" if track == "tuned" else
                       "Run as given (a fixed setting, no search budget: self-tuning or untuned), ranked apart",
                       Table(["rank", "optimizer", "score", "seed range", "targets reached", "source"], rows,
                             "Seed range: each seed index alone, against the fastest medians.")))
    steps = scored.steps
    palette = Palette(steps.index, pd.DataFrame({"config": steps.index, "optimizer": steps.index}))
    floor = 1.0 if scored.by == "steps" else 1e-3
    unit = "steps" if scored.by == "steps" else "training time"
    figure = performance_profile(profile(steps.T.clip(lower=floor)), {o: o for o in steps.index}, palette,
                                 f"median {unit} to target")
    return {"sentences": _sentences(scored, mine), "scores": scores, "figure": figure,
            "steps_title": f"Median {unit} to target per workload", "steps": steps_table(scored, mine),
            "settings": settings_table(scored, records or {}, mine)}


def store_labels(stores: list[str | Path]) -> list[str]:
    """``mine`` for one store; several: their folder names, made unique (``baselines`` is the shipped ones)."""
    if len(stores) == 1:
        return ["mine"]
    labels: list[str] = []
    for store in stores:
        name = Path(store).resolve().name
        label, n = name, 1
        while label in labels or label == "baselines":
            n += 1
            label = f"{name}-{n}"
        labels.append(label)
    return labels


def _records(stores: list[str | Path], suite: Suite) -> dict[str, dict[str, Any]]:
    from optbench.suite.baselines import baselines_dir

    records = {str(s): read_record(s) for s in stores}
    shipped = baselines_dir(suite.name) / "suite.json"
    if shipped.is_file():
        records["baseline"] = json.loads(shipped.read_text())
    return records


def suite_report(stores: list[str | Path] | str | Path, out: str | Path, suite: Suite,
                 registry: Registry | None = None, by: str = "steps", tau_max: float | None = None) -> Path:
    """One HTML page: ``suite score``'s leaderboard for the stores beside the shipped baselines, then their
    final trials and the baselines workload by workload. Reads only the stores (no plugin needed); built in a
    temporary folder, labelled ``mine`` (or each store's folder name) and ``baselines``, with the paths shown
    as given; only ``out`` is written."""
    from optbench.report import write_page
    from optbench.report.data import load_stores
    from optbench.report.page import render
    from optbench.suite.scoring import check_options, score_stores

    stores = [stores] if isinstance(stores, (str, Path)) else list(stores)
    check_options(by, tau_max)
    scored = score_stores([str(s) for s in stores], suite_name=suite.name, by=by, tau_max=tau_max)
    mine = set(scored.trials.loc[scored.trials["source"] != "baseline", "optimizer"])
    ran = {w for s in stores for w in read_record(s)["workloads"]}
    labels = store_labels(stores)
    with tempfile.TemporaryDirectory(prefix="optbench-suite-report-") as folder:
        copies = [final_trials_store(s, Path(folder) / label) for s, label in zip(stores, labels, strict=True)]
        baselines = baselines_as_store(suite, Path(folder) / "baselines", registry, ran, stored_task_infos(stores))
        data = load_stores([*copies, baselines])
        shown = dict(zip(labels, map(str, stores), strict=True))
        shown["baselines"] = f"the {suite.name} v{suite.version} baselines shipped with optbench"
        for label, results in data.stores:
            results.path = shown[label]  # the path the user gave, never the temporary copy
        html = render(data, title=f"{' + '.join(labels)} vs the {suite.name} baselines",
                      leaderboard=leaderboard_section(scored, mine, _records(stores, suite)))
    return write_page(html, Path(out))

"""Page assembly: the report's sections as plain data, rendered into one self-contained HTML file.

Owns what each section shows (header, leaderboards, curves, schedules, batch size, 2-D contours, lr
sensitivity, performance profile, runtime overhead, failed trials) and the HTML itself. The template
(``page.html``) is rendered by Jinja2 with autoescaping on, so every name, hyperparameter and error
message from a store or a plugin is text, never markup; the only unescaped pieces are the SVG figures
matplotlib wrote (it escapes their text). A Content-Security-Policy allows no network fetch at all and
only the one inline sorting script (by its hash), so even a missed escape could neither run a script
nor load anything.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import jinja2
import numpy as np
import pandas as pd

import optbench
from optbench import stats
from optbench.report import figures
from optbench.report.data import ReportData

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.tabIndex = 0;
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var key = function (row) {
      var cell = row.children[col], raw = cell.getAttribute("data-sort");
      var text = raw === null ? cell.textContent.trim() : raw, num = parseFloat(text);
      return isNaN(num) ? text.toLowerCase() : num;
    };
    Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var ka = key(a), kb = key(b);
      if (typeof ka !== typeof kb) { ka = String(ka); kb = String(kb); }
      return (ka < kb ? -1 : ka > kb ? 1 : 0) * (asc ? 1 : -1);
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


@dataclass
class Cell:
    """One table cell: the text shown and the number it sorts by (None: sort by the text)."""

    text: str
    sort: float | None = None
    title: str | None = None
    css: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    colours: list[str] = field(default_factory=list)  # a swatch colour per row (the optimizer's)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: ``—`` for missing, ``never`` for inf, 4 significant digits otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (float, np.floating)) and math.isinf(value):
        return "never" if value > 0 else "-inf"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def _sort_key(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    return 1e308 if value == math.inf else (-1e308 if value == -math.inf else value)


def _median_cell(summary: pd.Series) -> Cell:
    """``median [q25, q75]`` over seeds (just the median with one seed)."""
    median = summary["median"]
    spread = f" [{fmt(summary['q25'], 3)}, {fmt(summary['q75'], 3)}]" if summary["n"] > 1 else ""
    if median == math.inf:  # more than half the seeds never got there: the quartiles add nothing
        spread = ""
    return Cell(fmt(median) + spread, _sort_key(median), title=f"median over {int(summary['n'])} seeds [IQR]")


def leaderboard(data: ReportData, task_label: str, palette: figures.Palette) -> Table:
    """One row per configuration: quality, speed to the target, throughput and failures; winner marked."""
    trials = data.trials[data.trials["task_label"] == task_label]
    target = data.targets.get(task_label)
    completed = trials[trials["status"] == "completed"]
    judge_column, maximize = ("best_val_acc", True) if "best_val_acc" in trials and \
        trials["best_val_acc"].notna().any() else ("best_train_loss", False)
    # rank on completed trials; diverged/failed trials are counted, not averaged into the quality
    ranking = stats.compare_to_best(completed, "config", judge_column, maximize=maximize).set_index("config")
    quality = [("best_train_loss", "best train loss"), ("final_train_loss", "final train loss")]
    if "best_val_acc" in trials and trials["best_val_acc"].notna().any():
        quality.append(("best_val_acc", "best val acc"))
    if "best_val_loss" in trials and trials["best_val_loss"].notna().any():
        quality.append(("best_val_loss", "best val loss"))
    columns = ["configuration", "seeds", *[label for _, label in quality], "steps to target",
               "time to target (s)", "steps/s", "diverged", "failed"]
    rows, colours = [], []
    for config, group in trials.groupby("config", sort=True):
        done = group[group["status"] == "completed"]
        verdict, css = "", ""
        if config in ranking.index and ranking.loc[config, "is_best"]:
            verdict, css = " ★ best", "best"
        elif config in ranking.index and ranking.loc[config, "tied_with_best"]:
            verdict, css = " ≈ within seed noise of best", "tied"
        row = [Cell(str(config) + verdict, None, css=css), Cell(f"{len(done)}/{len(group)}", len(done))]
        for column, _ in quality:
            frame = done if column in done else pd.DataFrame({column: []})
            row.append(_median_cell(stats.seed_summary(frame.assign(_all=0), "_all", column).iloc[0])
                       if len(done) else Cell("—"))
        for column in ("steps_to_target", "time_to_target", "steps_per_second"):
            values = done[column] if len(done) else pd.Series([math.nan])
            row.append(_median_cell(stats.seed_summary(pd.DataFrame({"v": values, "_all": 0}), "_all", "v")
                                    .iloc[0]) if len(done) else Cell("—"))
        diverged = int((group["status"] == "diverged").sum())
        failed = int((group["status"] == "failed").sum())
        row += [Cell(str(diverged), diverged, css="warn" if diverged else ""),
                Cell(str(failed), failed, css="warn" if failed else "")]
        rows.append(row)
        colours.append(palette.hex(str(group["optimizer"].iloc[0])))
    caption = (f"Winner by median {judge_column} over seeds ({'higher' if maximize else 'lower'} is better); "
               "≈ marks configurations whose 95 % bootstrap interval of the median difference to the winner "
               "contains 0.")
    if target:
        caption += (f" Target: {target['metric']} {'≥' if target['maximize'] else '≤'} {fmt(target['target'])}"
                    f" ({int(target['tolerance'] * 100)} % of the way from the best median "
                    f"{fmt(target['best'])} back to the start {fmt(target['initial'])}).")
    return Table(columns, rows, caption, colours)


def batch_table(data: ReportData, task_label: str) -> Table | None:
    table = figures.batch_size_table(data, task_label)
    if table["batch_size_value"].nunique() < 2:
        return None
    value_columns = [c for c in table.columns if c not in ("store", "optimizer", "optimizer_label",
                                                            "schedule_label", "batch_size_value")]
    columns = ["optimizer", "schedule", "batch size", *[c.replace("_", " ") for c in value_columns]]
    if data.multi_store:
        columns.insert(0, "store")
    rows = []
    for _, record in table.iterrows():
        row = [Cell(str(record["optimizer_label"])), Cell(str(record["schedule_label"])),
               Cell(str(int(record["batch_size_value"])), float(record["batch_size_value"]))]
        row += [Cell(fmt(record[c]), _sort_key(record[c])) for c in value_columns]
        if data.multi_store:
            row.insert(0, Cell(str(record["store"])))
        rows.append(row)
    return Table(columns, rows, "Median over completed seeds; times are training time only (evaluation excluded).")


def overhead_table(data: ReportData) -> pd.DataFrame:
    """Median time per step of each configuration ÷ SGD's on the same store, task and batch size."""
    trials = data.trials[(data.trials["status"] == "completed") & (data.trials["steps"] > 0)]
    trials = trials.assign(time_per_step=trials["train_time"] / trials["steps"])
    keys = ["store", "task_label", "batch_size"]
    sgd = trials[trials["optimizer"] == "sgd"].groupby(keys)["time_per_step"].median().rename("sgd_time")
    per_config = trials.groupby([*keys, "config", "optimizer"], sort=True)["time_per_step"].median().reset_index()
    merged = per_config.merge(sgd.reset_index(), on=keys, how="inner")
    return merged.assign(overhead=merged["time_per_step"] / merged["sgd_time"])


def profile_costs(data: ReportData, column: str) -> pd.DataFrame:
    """Median ``column`` (steps or seconds to target) per task (rows) and configuration (columns).

    A configuration not run on a task counts as never reaching it there; reaching the target before
    the first step costs the smallest positive amount (profiles divide by the best cost).
    """
    key = data.trials["optimizer_label"] + " · " + data.trials["schedule_label"]
    if data.multi_store:
        key = data.trials["store"] + ": " + key
    frame = data.trials.assign(profile_key=key)
    costs = frame.pivot_table(index="task_label", columns="profile_key", values=column, aggfunc="median")
    floor = 1.0 if column == "steps_to_target" else 1e-6
    return costs.clip(lower=floor)


def failures_table(data: ReportData) -> Table | None:
    bad = data.trials[data.trials["status"] != "completed"]
    if bad.empty:
        return None
    rows = [[Cell(str(r["task_label"])), Cell(str(r["config"])), Cell(str(r["seed"]), float(r["seed"])),
             Cell(str(r["status"])), Cell(fmt(r.get("diverged_step")), _sort_key(r.get("diverged_step"))),
             Cell(str(r.get("error") or ""))] for _, r in bad.iterrows()]
    return Table(["task", "configuration", "seed", "status", "diverged at step", "error"], rows)


def tuning_table(data: ReportData) -> Table | None:
    """The tuning protocol's outcome, for every store that has a ``tune.json``: chosen settings, their
    search score, and the median over the fresh seeds with the bootstrap verdict against the best."""
    from optbench.tune import load_tuning

    rows = []
    for label, results in data.stores:
        if not (results.path / "tune.json").is_file():
            continue
        tuning = load_tuning(results.path)
        protocol = tuning.get("protocol", {})
        verdicts = {(s["task"], s["subject"]): s for s in tuning.get("significance", [])}
        for choice in tuning.get("choices", []):
            final = verdicts.get((choice["task"], choice["optimizer"]), {})
            verdict = ("best" if final.get("is_best") else "≈ best (within seed noise)"
                       if final.get("tied_with_best") else "worse than best") if final else "—"
            row = [Cell(str(choice["task"])), Cell(str(choice["chosen"])),
                   Cell(fmt(choice.get("lr")), _sort_key(choice.get("lr"))),
                   Cell(f"{protocol.get('budget', '?')} × {protocol.get('sampler', '?')}"),
                   Cell(f"{choice.get('score_column', '?')}"),
                   Cell(fmt(choice.get("search_score")), _sort_key(choice.get("search_score"))),
                   Cell(f"{fmt(final.get('median'))} [{fmt(final.get('q25'))}, {fmt(final.get('q75'))}]",
                        _sort_key(final.get("median"))),
                   Cell(str(final.get("n", "—"))), Cell(verdict)]
            if data.multi_store:
                row.insert(0, Cell(label))
            rows.append(row)
    if not rows:
        return None
    columns = ["task", "chosen setting", "lr", "search budget", "selected by", "search score",
               "median over fresh seeds [IQR]", "seeds", "verdict"]
    if data.multi_store:
        columns.insert(0, "store")
    return Table(columns, rows, "Every optimizer had the same search budget over its declared lr range; the chosen "
                 "setting was re-run on fresh seeds. Verdict: bootstrap interval of the median difference to the best.")


def header(data: ReportData) -> list[dict[str, Any]]:
    """Per store: folder, dates, and each run's configuration and environment (as key/value rows)."""
    stores = []
    for label, results in data.stores:
        manifest = results.manifest
        runs = []
        for run in manifest.get("runs", []):
            config, env = run.get("config", {}), run.get("environment", {})
            budget = ", ".join(f"{k}={config[k]}" for k in ("steps", "epochs", "seconds") if config.get(k))
            config_rows = [("tasks", config.get("tasks")), ("optimizers", config.get("optimizers")),
                           ("schedules", config.get("schedules")), ("batch sizes", config.get("batch_sizes")),
                           ("seeds", config.get("seeds")), ("budget", budget or "each task's default"),
                           ("trials", config.get("n_trials")), ("plugins", config.get("plugins"))]
            env_rows = [(k, env.get(k)) for k in ("optbench", "python", "torch", "numpy", "pandas", "platform",
                                                  "cpu", "cpu_count", "torch_threads", "gpu", "git_commit")]
            env_rows.insert(0, ("device", config.get("device")))
            runs.append({"started": run.get("started", "?"),
                         "config": [(k, _listing(v)) for k, v in config_rows],
                         "environment": [(k, _listing(v)) for k, v in env_rows]})
        trials = data.trials[data.trials["store"] == label]
        stores.append({"label": label, "path": str(results.path), "created": manifest.get("created", "?"),
                       "updated": manifest.get("updated", "?"), "runs": runs, "n_trials": len(trials),
                       "statuses": trials["status"].value_counts().to_dict()})
    return stores


def _listing(value: Any) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _slug(text: str, used: set[str]) -> str:
    base = "task-" + hashlib.sha1(text.encode()).hexdigest()[:8]  # ids never carry user text
    slug, i = base, 1
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def sections(data: ReportData, registry: Any) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    palette = figures.palette_for(data)
    used: set[str] = set()
    tasks = []
    for task_label in data.tasks:
        tasks.append({
            "label": task_label, "id": _slug(task_label, used),
            "leaderboard": leaderboard(data, task_label, palette),
            "convergence": figures.convergence(data, task_label, palette),
            "schedules": figures.lr_schedules(data, task_label, palette),
            "batch_figure": figures.batch_size(data, task_label, palette),
            "batch_table": batch_table(data, task_label),
            "contours": figures.contours(data, task_label, palette, registry),
            "sensitivity": figures.lr_sensitivity(data, task_label, palette),
        })
    profile = None
    if len(data.tasks) >= 2:
        time_costs, step_costs = profile_costs(data, "time_to_target"), profile_costs(data, "steps_to_target")
        if time_costs.shape[1] >= 2:
            optimizer_of = {}
            for key, optimizer_name in zip(data.trials["optimizer_label"] + " · " + data.trials["schedule_label"],
                                           data.trials["optimizer"], strict=True):
                optimizer_of[key] = optimizer_name
            if data.multi_store:
                optimizer_of = {f"{s}: {k}": v for s in data.trials["store"].unique() for k, v in optimizer_of.items()}
            scores = pd.DataFrame({"by time": stats.algoperf_score(time_costs),
                                   "by steps": stats.algoperf_score(step_costs)}).sort_values("by time",
                                                                                               ascending=False)
            rows = [[Cell(str(k)), Cell(fmt(r["by time"], 3), r["by time"]), Cell(fmt(r["by steps"], 3), r["by steps"])]
                    for k, r in scores.iterrows()]
            profile = {
                "figure": figures.performance_profile(stats.performance_profile(time_costs), optimizer_of, palette,
                                                      "time to target"),
                "scores": Table(["configuration", "score (time to target)", "score (steps to target)"], rows,
                                "AlgoPerf-style score: area under ρ(τ) for τ from 1 to 4, divided by 3 "
                                "(1 = fastest on every task, 0 = never within 4× of the fastest)."),
                "n_tasks": len(time_costs),
            }
    overhead = overhead_table(data)
    overhead_rows = [[Cell(str(r["task_label"])), Cell(str(r["config"])),
                      Cell(fmt(r["time_per_step"] * 1e3, 3), r["time_per_step"]),
                      Cell(fmt(r["overhead"], 3) + "×", r["overhead"])] for _, r in overhead.iterrows()]
    return {
        "tasks": tasks, "profile": profile,
        "overhead_figure": figures.overhead(overhead, palette),
        "overhead_table": Table(["task", "configuration", "time per step (ms)", "÷ SGD"], overhead_rows,
                                "Median training time per step over completed seeds, against SGD on the same "
                                "store, task and batch size.") if overhead_rows else None,
        "failures": failures_table(data),
        "tuning": tuning_table(data),
        "legend": [(name, palette.hex(name)) for name in sorted(palette.colours)],
    }


def render(data: ReportData, registry: Any, title: str | None = None) -> str:
    """The whole page as one HTML string."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             loader=jinja2.FunctionLoader(_template_source))
    env.filters["fmt"] = fmt
    script_hash = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    context = sections(data, registry)
    title = title or "optbench report: " + ", ".join(label for label, _ in data.stores)
    return env.get_template("page.html").render(
        title=title, stores=header(data), script=SORT_SCRIPT, script_hash=script_hash,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), version=optbench.__version__,
        n_trials=len(data.trials), **context)


def _template_source(name: str) -> str:
    return resources.files("optbench.report").joinpath(name).read_text(encoding="utf-8")

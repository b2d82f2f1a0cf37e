"""Page assembly: the report's sections as plain data, rendered into one self-contained HTML file.

Owns what each section shows (summaries, setup, leaderboards, legends, curves, diagnosis, schedules,
batch size, 2-D contours, lr sensitivity, κ view, timing, performance profile, tuning, failed trials)
and the HTML itself. The template
(``page.html``) is rendered by Jinja2 with autoescaping on, so every name, hyperparameter and error
message from a store or a plugin is text, never markup; the only unescaped pieces are the SVG figures
matplotlib wrote (it escapes their text). A Content-Security-Policy allows no network fetch at all and
only the one inline script (table sorting and legend toggles, allowed by its hash), so even a missed
escape could neither run a script nor load anything; without JavaScript the page reads the same.
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
from optbench.judge import to_target_text
from optbench.report import figures, setup, summary
from optbench.report.data import ReportData
from optbench.report.landscape import landscape_section
from optbench.spec import format_number

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
document.querySelectorAll("button.cfg").forEach(function (button) {
  button.addEventListener("click", function () {
    var hidden = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", hidden ? "true" : "false");
    var section = button.closest("section");
    section.querySelectorAll('[id*="cfg-' + button.dataset.cfg + '-"]').forEach(function (el) {
      el.style.display = hidden ? "none" : "";
    });
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


fmt = format_number  # tables show numbers the way the console does


def _sort_key(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    return 1e308 if value == math.inf else (-1e308 if value == -math.inf else value)


def _median_cell(summary: Any) -> Cell:
    """``median [q25, q75]`` over seeds (just the median with one seed)."""
    median = summary["median"]
    spread = f" [{fmt(summary['q25'], 3)}, {fmt(summary['q75'], 3)}]" if summary["n"] > 1 else ""
    if median == math.inf:  # more than half the seeds never got there: the quartiles add nothing
        spread = ""
    return Cell(fmt(median) + spread, _sort_key(median), title=f"median over {int(summary['n'])} seeds [IQR]")


def _summary_cell(values: pd.Series) -> Cell:
    """``median [q25, q75]`` over the seeds' numbers (NaN left out; inf kept: "never")."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return Cell("—")
    # with a never-reached (inf) seed, interpolating quartiles gives inf - inf: take the nearest seed
    method = "linear" if np.isfinite(array).all() else "nearest"
    q25, median, q75 = np.quantile(array, [0.25, 0.5, 0.75], method=method)
    return _median_cell({"median": median, "q25": q25, "q75": q75, "n": array.size})


def leaderboard(data: ReportData, task_label: str, palette: figures.Palette) -> Table:
    """One row per configuration, the judge's numbers: headline (final, median [IQR] over completed seeds;
    best), other declared metrics, steps and time to the target (median [min, max] over every seed with a
    result, never counted as never), time per step, diverged/failed counts; the leader and ties marked."""
    info, trials = data.infos[task_label], data.task_trials(task_label)
    judged, verdict = summary.config_rows(data, task_label), summary.verdict_row(data, task_label)
    headline = info.metric(info.headline)
    others = [m for m in info.metrics if m != info.headline and f"final_{m}" in trials
              and trials[f"final_{m}"].notna().any()]
    columns = ["configuration", "seeds completed", f"best {headline.label}", f"final {headline.label}",
               *[f"final {info.metric(m).label}" for m in others], "steps to target", "time to target (s)",
               "time per step (ms)", "diverged", "failed"]
    rows, colours = [], []
    for config, group in trials.groupby("config", sort=True):
        done = group[group["status"] == "completed"]
        judge_row = judged.loc[config].to_dict()
        mark, css = _mark_for(judge_row, verdict)
        row = [Cell(str(config) + mark, None, css=css), Cell(f"{len(done)}/{len(group)}", len(done))]
        row += [Cell(fmt(judge_row["best_median"]), _sort_key(judge_row["best_median"])), _final_cell(judge_row)]
        row += [_summary_cell(done[f"final_{m}"]) for m in others]
        row += [Cell(to_target_text(judge_row), _sort_key(judge_row["steps_median"])),
                Cell(to_target_text(judge_row, "s"), _sort_key(judge_row["time_median"])),
                _summary_cell(1e3 * done["train_time"] / done["steps"].where(done["steps"] > 0))]
        for status in ("diverged", "failed"):
            count = int((group["status"] == status).sum())
            row.append(Cell(str(count), count, css="warn" if count else ""))
        rows.append(row)
        colours.append(palette.hex(str(group["optimizer"].iloc[0])))
    target = info.target
    caption = (f"Ranked by the median over completed seeds of the final {headline.label} "
               f"({'higher' if info.maximize else 'lower'} is better), [interquartile range]. ")
    if target:
        caption += (f"Target: {target['description'] or target['metric']}; steps and time to it: median "
                    "[min, max] over every seed with a result, a diverged seed counting as never. ")
    caption += "Time per step: training clock only (evaluation excluded), median [IQR] over seeds."
    return Table(columns, rows, caption, colours)


def _final_cell(row: dict[str, Any]) -> Cell:
    if not row["final_n"]:
        return Cell("—")
    spread = f" [{fmt(row['final_q25'], 3)}, {fmt(row['final_q75'], 3)}]" if row["final_n"] > 1 else ""
    return Cell(fmt(row["final_median"]) + spread, _sort_key(row["final_median"]),
                title=f"median over {int(row['final_n'])} completed seeds [IQR]")


def _mark_for(row: dict[str, Any], verdict: dict[str, Any]) -> tuple[str, str]:
    kind = row.get("headline_vs_leader")
    if kind == "leader":
        return (" ★ winner", "best") if verdict.get("headline_winner") else (" ★ leader (not established)", "best")
    symbol = summary.VS_LEADER_MARK.get(str(kind))
    if symbol is None:
        return "", ""
    words = "tie with the leader" if kind == "tie" else "not told apart from the leader"
    return f" {symbol} {words}", "tied"


def legend(data: ReportData, task_label: str, palette: figures.Palette) -> dict[str, Any]:
    """The section's shared legend: a button per configuration (colour, line style, marker) and the mapping
    in words (colour = optimizer; line style and marker = the configurations of one optimizer)."""
    configs = data.task_trials(task_label).drop_duplicates("config").sort_values("config")
    entries = [{"config": str(r["config"]), "key": figures.config_key(str(r["config"])),
                "colour": palette.hex(str(r["optimizer"])), "dash": DASHES[palette.style(str(r["config"]))],
                "marker": MARKER_GLYPHS.get(palette.marker(str(r["config"])), "●")} for _, r in configs.iterrows()]
    varying = [name for name, column in (("learning rate and other hyperparameters", "optimizer_label"),
                                         ("schedule", "schedule_label"), ("batch size", "batch_size"))
               if configs.groupby("optimizer")[column].nunique().max() > 1]
    mapping = "Colour = optimizer" + (f"; line style and marker = {', '.join(varying)} within an optimizer"
                                      if varying else "") + "."
    return {"entries": entries, "mapping": mapping}


DASHES = {"-": "", "--": "6,3", ":": "1.5,2.5", "-.": "6,2,1.5,2"}
MARKER_GLYPHS = {"o": "●", "s": "■", "^": "▲", "D": "◆", "v": "▼", "P": "✚", "X": "✖", "*": "★"}
DIAGNOSIS_COLUMNS = ["configuration", "seed", "verdict", "λ_min", "λ_max", "trace", "fraction λ < 0",
                     "escape step", "sharpness (λ_max)", "ε-sharpness", "gradient noise scale"]


def _diagnosis_row(trial: pd.Series, document: dict[str, Any], metric: dict[str, float]) -> list[Cell]:
    eigenvalues = document.get("eigenvalues") or []
    negative = (sum(1 for v in eigenvalues if v < 0) / len(eigenvalues)) if eigenvalues else math.nan
    if not eigenvalues and "hess_negative_fraction" in metric:
        negative = metric["hess_negative_fraction"]
    escape = (document.get("escape") or {}).get("step", math.nan)
    lam_min = document.get("lambda_min", metric.get("hess_lambda_min", math.nan))
    lam_max = document.get("lambda_max", metric.get("hess_lambda_max", math.nan))
    values = [lam_min, lam_max, document.get("trace", metric.get("hess_trace", math.nan)), negative, escape,
              lam_max, document.get("eps_sharpness", metric.get("eps_sharpness", math.nan)),
              metric.get("grad_noise_scale", math.nan)]
    return [Cell(str(trial["config"])), Cell(str(trial["seed"]), float(trial["seed"])),
            Cell(str(document.get("verdict") or document.get("error") or "—")),
            *[Cell(fmt(v), _sort_key(v)) for v in values]]


def diagnosis_table(data: ReportData, task_label: str) -> Table | None:
    """Critical-point verdicts and curvature per trial, from ``diagnosis/<trial>.json`` and the metrics."""
    trials = data.task_trials(task_label)
    diagnostic = {n for n, kind in data.infos[task_label].traces.items() if kind == "diagnosis"}
    names = [m for m in data.metric_names(task_label) if m in diagnostic]
    rows_metrics = pd.concat([data.task_metric(task_label, m) for m in names]) if names else data.metrics.iloc[:0]
    last = rows_metrics.sort_values("step").groupby(["trial_id", "metric"])["value"].last()
    ids = set(last.index.get_level_values(0)) | {t for t in trials["trial_id"] if t in data.diagnoses}
    if not ids:
        return None
    rows = []
    for _, trial in trials[trials["trial_id"].isin(ids)].sort_values(["config", "seed"]).iterrows():
        metric = last.loc[trial["trial_id"]].to_dict() if trial["trial_id"] in last.index else {}
        rows.append(_diagnosis_row(trial, data.diagnoses.get(trial["trial_id"], {}), metric))
    return Table(DIAGNOSIS_COLUMNS, rows, "At the end of each trial: the second-derivative test's verdict, the "
                 "Hessian's extreme eigenvalues and trace, the fraction of negative eigenvalues (the lecture's "
                 "“minimum ratio” is 1 − this), the step along the λ_min eigenvector that escapes a saddle, and "
                 "sharpness. Diagnostics are not drawn in the convergence figures.")


def batch_table(data: ReportData, task_label: str, table: pd.DataFrame) -> Table | None:
    if table.empty:
        return None
    info = data.infos[task_label]
    label = info.metric(info.headline).label
    names = {"time_per_update": "time per update (ms)", "time_per_epoch": "time per epoch (s)",
             "at_equal_updates": f"{label} at equal updates ({int(table.attrs['steps_at'])})",
             "at_equal_epochs": f"{label} at equal epochs ({table.attrs['epochs_at']:.3g})",
             "generalization_gap": "generalization gap"}
    value_columns = [c for c in names if c in table]
    columns = ["optimizer", "schedule", "batch size", "seeds", *[names[c] for c in value_columns]]
    rows = []
    for _, record in table.iterrows():
        row = [Cell(str(record["optimizer_label"])), Cell(str(record["schedule_label"])),
               Cell(str(int(record["batch_size_value"])), float(record["batch_size_value"])),
               Cell(str(int(record["seeds"])), float(record["seeds"]))]
        row += [Cell(fmt(record[c] * (1e3 if c == "time_per_update" else 1)), _sort_key(record[c]))
                for c in value_columns]
        if data.multi_store:
            row.insert(0, Cell(str(record["store"])))
        rows.append(row)
    if data.multi_store:
        columns.insert(0, "store")
    caption = ("Median over completed seeds. Equal updates: every batch size compared after the same number of "
               "optimizer steps (large batches saw more examples); equal epochs: after the same number of passes "
               "over the data (small batches made more updates). Times: training clock only.")
    if "generalization_gap" in table:
        caption += " Generalization gap: final val loss − full (no-grad) loss on a fixed training subset."
    return Table(columns, rows, caption)


def failures_table(data: ReportData) -> Table | None:
    bad = data.trials[data.trials["status"] != "completed"]
    if bad.empty:
        return None
    rows = [[Cell(str(r["task_label"])), Cell(str(r["config"])), Cell(str(r["seed"]), float(r["seed"])),
             Cell(str(r["status"])), Cell(fmt(r.get("diverged_step")), _sort_key(r.get("diverged_step"))),
             Cell(str(r.get("diverged_reason") or r.get("error") or ""))] for _, r in bad.iterrows()]
    return Table(["task", "configuration", "seed", "status", "diverged at step", "reason / error"], rows)


def tuning_table(data: ReportData) -> Table | None:
    """Each store's ``tune.json``: chosen settings, their search score, and the fresh-seed verdict."""
    rows = []
    for label, tuning in data.tuning:
        protocol = tuning.get("protocol", {})
        verdicts = {(s["task"], s["subject"]): s for s in tuning.get("significance", [])}
        for choice in tuning.get("choices", []):
            final = verdicts.get((choice["task"], choice["optimizer"]), {})
            verdict = final.get("verdict") or "—"
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
    return Table(columns, rows, f"{_search_trials(data)}; the chosen setting was re-run on "
                 "fresh seeds. Verdict: the judge's comparison of those seeds with the leader's (an exact "
                 "permutation test at 5 %, or exact when every seed gives the same value).")


def _search_trials(data: ReportData) -> str:
    """The search trials each optimizer used, as recorded (one count when all are equal, else each)."""
    used: dict[str, list[int]] = {}
    for _label, tuning in data.tuning:
        for choice in tuning.get("choices", []):
            used.setdefault(str(choice["optimizer"]), []).append(len(choice.get("search_trials", [])))
    counts = {n for ns in used.values() for n in ns}
    if len(counts) == 1:
        return f"Every optimizer used the same number of search trials ({counts.pop()} per task)"
    spans = {k: f"{min(v)}" if min(v) == max(v) else f"{min(v)}–{max(v)}" for k, v in used.items()}
    return "Search trials per task differ (not an equal budget): " + ", ".join(f"{k} {v}" for k, v in spans.items())


def profile_costs(data: ReportData, column: str) -> pd.DataFrame:
    """The judge's median ``column`` ("steps" or "time" to target) per task (rows) and configuration.

    Medians are over every seed with a result, a diverged seed counting as never (``inf``); a configuration
    not run on a task never reached its target there; a target met before the first step costs 1 step
    (or 1 µs), so ratios are defined."""
    configs = data.verdicts.configs
    configs = configs[configs["has_target"].astype(bool)]
    costs = configs.pivot_table(index="task_key", columns="config", values=f"{column}_median", aggfunc="first")
    costs = costs.reindex(index=[t for t in data.tasks if t in set(configs["task_key"])]).fillna(math.inf)
    return costs.clip(lower=1.0 if column == "steps" else 1e-6)


def profile_section(data: ReportData, palette: figures.Palette) -> dict[str, Any] | None:
    step_costs, time_costs = profile_costs(data, "steps"), profile_costs(data, "time")
    if len(step_costs) < 2 or step_costs.shape[1] < 2:
        return None
    optimizer_of = dict(zip(data.trials["config"], data.trials["optimizer"], strict=True))
    scores = pd.DataFrame({"by steps": stats.algoperf_score(step_costs),
                           "by time": stats.algoperf_score(time_costs)}).sort_values("by steps", ascending=False)
    rows = [[Cell(str(k)), Cell(fmt(r["by steps"], 3), r["by steps"]), Cell(fmt(r["by time"], 3), r["by time"])]
            for k, r in scores.iterrows()]
    return {"figure": figures.performance_profile(stats.performance_profile(step_costs), optimizer_of, palette,
                                                  "steps to target"),
            "scores": Table(["configuration", "score (steps to target)", "score (time to target)"], rows,
                            "AlgoPerf-style score: area under ρ(τ) for τ from 1 to 4, divided by 3 (1 = fastest on "
                            "every task, 0 = never within 4× of the fastest), from the median over seeds with a "
                            "result; a diverged seed never reaches the target, a configuration not run on a task "
                            "never reached it there. Time is this machine's training clock."),
            "n_tasks": len(step_costs)}


def kappa_section(data: ReportData, palette: figures.Palette) -> dict[str, Any] | None:
    table = figures.kappa_table(data)
    if table.empty:
        return None
    slopes = figures.kappa_slopes(table)
    rows = [[Cell(task), Cell(optimizer), Cell(f"{slope:.2f}", slope)] for (task, optimizer), slope in slopes.items()]
    return {"figure": figures.kappa_view(table, palette),
            "slopes": Table(["task", "optimizer", "fitted slope of log steps vs log κ"], rows,
                            "Theory for the quadratic: gradient descent needs steps ∝ κ (slope 1), heavy ball "
                            "∝ √κ (slope 0.5). Per κ the fastest configuration of each optimizer is used.")}


def task_section(data: ReportData, task_label: str, palette: figures.Palette, used: set[str]) -> dict[str, Any]:
    info = data.infos[task_label]
    batch = figures.batch_size_table(data, task_label)
    return {
        "label": task_label, "id": _slug(task_label, used), "summary": summary.task_summary(data, task_label),
        "notes": info.notes, "legend": legend(data, task_label, palette),
        "setup": setup.config_rows(data, task_label),
        "leaderboard": leaderboard(data, task_label, palette),
        "convergence": figures.convergence(data, task_label, palette),
        "diagnosis": diagnosis_table(data, task_label),
        "landscape": landscape_section(data, task_label),
        "schedules": figures.lr_schedules(data, task_label, palette),
        "batch_figure": figures.batch_size(data, task_label, palette, batch),
        "batch_table": batch_table(data, task_label, batch),
        "contours": figures.contours(data, task_label, palette),
        "critical_kinds": sorted({p.get("kind", "") for p in info.critical_points}),
        "has_surface": bool(info.surface),
        "sensitivity": figures.lr_sensitivity(data, task_label, palette),
    }


def _slug(text: str, used: set[str]) -> str:
    base = "task-" + hashlib.sha1(text.encode()).hexdigest()[:8]  # ids never carry user text
    slug, i = base, 1
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def sections(data: ReportData) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    palette = figures.palette_for(data)
    used: set[str] = set()
    warnings = summary.load_warnings(data)
    return {
        "overview": summary.cross_task_summary(data, warnings), "noise_sentence": summary.NOISE_SENTENCE,
        "tasks": [task_section(data, task_label, palette, used) for task_label in data.tasks],
        "profile": profile_section(data, palette), "kappa": kappa_section(data, palette),
        "failures": failures_table(data), "tuning": tuning_table(data),
        "colours": [(name, palette.hex(name)) for name in sorted(palette.colours)],
    }


def render(data: ReportData, title: str | None = None, leaderboard: dict[str, Any] | None = None) -> str:
    """The whole page as one HTML string."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             loader=jinja2.FunctionLoader(_template_source))
    env.filters["fmt"] = fmt
    script_hash = base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
    context = sections(data)
    if leaderboard is not None:  # the suite's page: its score replaces the per-configuration profile
        context["profile"] = None
    title = title or "optbench report: " + ", ".join(label for label, _ in data.stores)
    return env.get_template("page.html").render(
        title=title, stores=setup.stores_section(data), script=SORT_SCRIPT, script_hash=script_hash,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), version=optbench.__version__,
        n_trials=len(data.trials), leaderboard=leaderboard, **context)


def _template_source(name: str) -> str:
    return resources.files("optbench.report").joinpath(name).read_text(encoding="utf-8")

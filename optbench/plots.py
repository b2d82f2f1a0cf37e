"""Plots of a store for notebooks, drawn with seaborn: ``optbench.load(store).plot_curves()`` and friends.

Every function takes a :class:`~optbench.store.Results` and returns the seaborn :class:`~seaborn.FacetGrid`
(``.figure``, ``.axes``, ``.set(...)`` for further styling). What is drawn is read, never decided here:
configuration labels, statuses, divergence steps, final values and medians to target are the judge's
(``results.verdicts()``); what a recorded name means -- label, unit, direction, target -- is the task's
declaration (``verdicts.declarations``). Nothing here ranks configurations or tests a target: the κ view
draws every configuration, the profile is :func:`optbench.stats.performance_profile` of the judge's medians.
What seaborn adds is the drawing: seeds aggregated as a median line with their full spread (min–max) as a
band, facets per task, legends.

Shared conventions: the axis label states the metric's declared direction ("lower is better"); a task's
target is a dashed black line; diverged trials are faded, each drawn alone up to its divergence step, and
never set the axis range; an axis goes log where its positive values span more than two decades.

The HTML report keeps its own matplotlib figures (:mod:`optbench.report.figures`): it must write 1,000
trials in ≤ 3 s as inline SVG with per-configuration ids for its legend toggles, from pre-aggregated,
downsampled curves; seaborn aggregates the raw seed rows per facet (measured on 1,000 trials:
``plot_curves`` 12 s of CPU against 2.8 s for the whole report; docs/notebook.md). This module imports nothing of the
report (the report reads stores; :class:`~optbench.store.Results` offers these plots: no import circle).
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from optbench.declaration import Declaration
from optbench.errors import OptbenchError

if TYPE_CHECKING:
    import seaborn as sns

    from optbench.judge import Verdicts


class Results(Protocol):
    """What the plots read of :class:`optbench.store.Results` (not imported: the store offers the plots)."""

    trials: pd.DataFrame
    metrics: pd.DataFrame

    def verdicts(self) -> Verdicts: ...

#: the spread of seeds drawn as a band: every seed, min to max
SPREAD = ("pi", 100)
FADED = 0.3
#: an axis goes log when its positive values span more than this factor
DECADES = 100.0


def axis_label(decl: Declaration, name: str) -> str:
    """What ``name`` is, in the task's words, with its unit and (for a metric) which way is better."""
    metric, trace = decl.metrics.get(name), decl.traces.get(name)
    if metric is None and trace is None:
        return name
    item = metric or trace
    text = item.label + (f" ({item.unit})" if item.unit else "")
    if metric is not None:
        text += ", lower is better" if metric.direction == "min" else ", higher is better"
    return text


def log_if_wide(ax: Any, which: str, values: Any) -> bool:
    """Log scale on ``which`` axis when the finite values are positive and span more than :data:`DECADES`."""
    array = np.asarray(values, dtype=float)
    array = array[np.isfinite(array)]
    wide = array.size > 1 and (array > 0).all() and array.max() / array.min() > DECADES
    if wide:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    return bool(wide)


def _palette(configs: list[str]) -> dict[str, Any]:
    import seaborn as sns

    return dict(zip(configs, sns.color_palette("tab10" if len(configs) <= 10 else "husl", len(configs)),
                    strict=True))


def _curve_rows(results: Results, verdicts: Verdicts, metric: str | None) -> pd.DataFrame:
    """Rows of ``metric`` (each task's headline when None) with the judge's labels: completed seeds, and
    each diverged trial up to its divergence step (finite values only, ``faded``)."""
    judged = verdicts.trials[["trial_id", "task_key", "config", "status", "diverged_step"]]
    names = {task: metric or decl.headline for task, decl in verdicts.declarations.items()}
    rows = results.metrics.assign(trial_id=results.metrics["trial_id"].astype(str),
                                  metric=results.metrics["metric"].astype(str)).merge(judged, on="trial_id")
    rows = rows[rows["metric"] == rows["task_key"].map(names)]
    if rows.empty:
        recorded = sorted(set(results.metrics["metric"].astype(str)))
        raise OptbenchError(f"no trial recorded {metric!r}; recorded: {', '.join(recorded)}")
    stop = rows["diverged_step"].astype(float).fillna(math.inf)
    faded = rows["status"] == "diverged"
    keep = (rows["status"] == "completed") | (faded & (rows["step"] <= stop) & np.isfinite(rows["value"]))
    return rows.assign(faded=faded)[keep]


def _draw_curves(data: pd.DataFrame, hue_order: list[str], palette: dict[str, Any], x: str, **_: Any) -> None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = plt.gca()
    done, faded = data[~data["faded"]], data[data["faded"]]
    if not done.empty:
        sns.lineplot(data=done, x=x, y="value", hue="config", hue_order=hue_order, palette=palette,
                     estimator="median", errorbar=SPREAD, legend=False, ax=ax)
    if not faded.empty:
        sns.lineplot(data=faded, x=x, y="value", hue="config", hue_order=hue_order, palette=palette,
                     units="trial_id", estimator=None, alpha=FADED, lw=0.8, legend=False, ax=ax)


def _finish_curves(grid: sns.FacetGrid, declarations: dict[str, Declaration], metric: str | None, x: str) -> None:
    """Per facet: the declared label and direction, the target line, the scale from the solid lines only."""
    for task, ax in grid.axes_dict.items():
        decl = declarations[task]
        name = metric or decl.headline
        ax.set_ylabel(axis_label(decl, name))
        ax.set_xlabel({"time": "training time (s)"}.get(x, x))
        if decl.target is not None and decl.target.metric == name:
            ax.axhline(decl.target.value, color="black", ls="--", lw=1, gid="target")
        # diverged trials never set the range (their last finite values dwarf every other curve)
        values = np.asarray([v for line in ax.get_lines() if line.get_alpha() != FADED for v in line.get_ydata()],
                            dtype=float)
        values = values[np.isfinite(values)]
        if values.size and values.min() < values.max():
            if log_if_wide(ax, "y", values):
                ax.set_ylim(values.min() / 2, values.max() * 2)
            else:
                margin = 0.05 * (values.max() - values.min())
                ax.set_ylim(values.min() - margin, values.max() + margin)


def _legend(grid: sns.FacetGrid, palette: dict[str, Any], title: str) -> None:
    from matplotlib.lines import Line2D

    handles = {name: Line2D([], [], color=colour, lw=2) for name, colour in palette.items()}
    grid.add_legend(legend_data=handles, title=title, label_order=list(palette))


def _facets(tasks: list[str]) -> dict[str, Any]:
    return {"col": "task_key", "col_order": tasks, "col_wrap": min(3, len(tasks)), "height": 3.2, "aspect": 1.35}


def plot_curves(results: Results, metric: str | None = None, x: str = "step") -> sns.FacetGrid:
    """``metric`` (default: each task's headline) against ``x`` (step, time or epoch), one facet per task:
    per configuration the median over completed seeds with their min–max band, diverged trials faded.
    Seeds are aggregated at equal ``x``: by step they line up; by time each seed's points stand alone."""
    import seaborn as sns

    if x not in ("step", "time", "epoch", "examples"):
        raise OptbenchError(f"x must be step, time, epoch or examples, got {x!r}")
    verdicts = results.verdicts()
    rows = _curve_rows(results, verdicts, metric)
    palette = _palette(sorted(rows["config"].unique()))
    tasks = [t for t in verdicts.declarations if t in set(rows["task_key"])]
    grid = sns.FacetGrid(rows, sharex=False, sharey=False, **_facets(tasks))
    grid.map_dataframe(_draw_curves, hue_order=list(palette), palette=palette, x=x)
    grid.set_titles("{col_name}")
    _finish_curves(grid, verdicts.declarations, metric, x)
    _legend(grid, palette, "configuration (median, min–max of seeds; faded: diverged)")
    grid.tight_layout()
    return grid


def plot_profile(results: Results, by: str = "steps") -> sns.FacetGrid:
    """The performance profile ρ(τ) (:func:`optbench.stats.performance_profile`) of every configuration over
    the tasks with a target, from the judge's median ``by`` ("steps" or "time") to target; a configuration
    not run on a task never reached it there, a target met at the start costs one step (or 1 µs)."""
    import seaborn as sns

    from optbench import stats

    if by not in ("steps", "time"):
        raise OptbenchError(f"by must be 'steps' or 'time', got {by!r}")
    configs = results.verdicts().configs
    configs = configs[configs["has_target"].astype(bool)]
    costs = configs.pivot_table(index="task_key", columns="config", values=f"{by}_median", aggfunc="first")
    if len(costs) < 2 or costs.shape[1] < 2:
        raise OptbenchError("a performance profile needs at least 2 tasks with a target and 2 configurations "
                            f"(this store: {len(costs)} task(s) with a target, {costs.shape[1]} configuration(s))")
    costs = costs.fillna(math.inf).clip(lower=1.0 if by == "steps" else 1e-6)
    long = stats.performance_profile(costs).reset_index().melt(id_vars="tau", var_name="config", value_name="rho")
    grid = sns.relplot(data=long, x="tau", y="rho", hue="config", kind="line", drawstyle="steps-post",
                       errorbar=None, height=3.4, aspect=1.6, palette=_palette(sorted(costs.columns)))
    grid.ax.set_xscale("log", base=2)
    grid.ax.set_ylim(-0.02, 1.02)
    grid.set(xlabel=f"τ: within this factor of the fastest {by} to target", ylabel="fraction of tasks ρ(τ)")
    return grid


def _kappa_rows(verdicts: Verdicts) -> pd.DataFrame:
    """The judge's median steps to target of every configuration, per task, with the task's declared κ."""
    kappas = {task: d.task_params.get("kappa", d.facts.get("kappa")) for task, d in verdicts.declarations.items()}
    configs = verdicts.configs[verdicts.configs["has_target"].astype(bool)]
    configs = configs.assign(kappa=configs["task_key"].map(kappas)).dropna(subset=["kappa"])
    if configs["kappa"].nunique() < 2:
        raise OptbenchError("no κ sweep in this store: it needs a task with a target at two or more values of kappa")
    steps = configs["steps_median"].astype(float)
    if not np.isfinite(steps).any():
        raise OptbenchError("no configuration's median seed reached the target at any κ: nothing to draw")
    return configs.assign(kappa=configs["kappa"].astype(float), steps=steps.where(np.isfinite(steps)))


def _slope_label(config: str, group: pd.DataFrame) -> str:
    """The configuration with the least-squares slope of log steps against log κ (finite points only)."""
    finite = group.dropna(subset=["steps"])
    if finite["kappa"].nunique() < 2:
        return config
    slope = np.polyfit(np.log(finite["kappa"]), np.log(finite["steps"]), 1)[0]
    return f"{config}: slope {slope:.2f}"


def plot_kappa(results: Results) -> sns.FacetGrid:
    """The judge's median steps to target against the declared κ on log-log axes, one line per configuration
    with its fitted slope (gradient descent: 1, heavy ball: 0.5); a κ never reached leaves a gap."""
    import seaborn as sns

    rows = _kappa_rows(results.verdicts())
    labels = {str(config): _slope_label(str(config), group) for config, group in rows.groupby("config")}
    grid = sns.relplot(data=rows.assign(line=rows["config"].map(labels)), x="kappa", y="steps", hue="line",
                       kind="line", marker="o", errorbar=None, height=3.4, aspect=1.6)
    grid.set(xscale="log", yscale="log", xlabel="condition number κ = L/μ",
             ylabel="steps to target (median over seeds, lower is better)")
    return grid


def _grid_key(row: Any) -> str:
    """An lr grid: the same optimizer, schedule, batch size and every other (resolved) optimizer parameter."""
    try:
        params = json.loads(row.optimizer_params) if isinstance(row.optimizer_params, str) else {}
    except json.JSONDecodeError:
        params = {}
    rest = json.dumps({k: v for k, v in sorted(params.items()) if k != "lr"}, default=str)
    return f"{row.optimizer}|{row.schedule_label}|{row.batch_size}|{rest}"


def _grid_name(group: pd.DataFrame) -> str:
    """The grid in the user's words: its optimizer label without the lr ("momentum[momentum=0.5]")."""
    first = group.iloc[0]
    label = re.sub(r"lr=[^,\]]*,?", "", str(first["optimizer_label"])).replace("[]", "").replace(",]", "]")
    return f"{label} · {first['schedule_label']} · bs={first['batch_size']}"


def _sensitivity_rows(results: Results, verdicts: Verdicts) -> pd.DataFrame:
    judged = verdicts.trials[["trial_id", "task_key", "status", "headline_final"]]
    trials = results.trials[["trial_id", "lr", "optimizer", "optimizer_label", "optimizer_params",
                             "schedule_label", "batch_size"]]
    rows = trials.assign(trial_id=trials["trial_id"].astype(str)).merge(judged, on="trial_id")
    rows["grid"] = [_grid_key(r) for r in rows.itertuples()]
    names = {key: _grid_name(group) for key, group in rows.groupby("grid")}
    rows["line"] = rows["grid"].map(names) if len(set(names.values())) == len(names) else rows["grid"]
    rows = rows[rows.groupby(["task_key", "grid"])["lr"].transform("nunique").to_numpy() > 1]
    if rows.empty:
        raise OptbenchError("no learning-rate grid in this store: it needs one configuration at two or more lr")
    return rows.assign(headline_final=rows["headline_final"].astype(float))


def _mark_bad(grid: sns.FacetGrid, rows: pd.DataFrame, palette: dict[str, Any]) -> None:
    """× at the top of a facet for every lr where seeds diverged or failed (they have no final value)."""
    for task, ax in grid.axes_dict.items():
        bad = rows[(rows["task_key"] == task) & (rows["status"] != "completed")]
        for (line, lr), group in bad.groupby(["line", "lr"]):
            ax.plot([lr], [1.0], marker="x", ms=8, color=palette[line], lw=0, clip_on=False,
                    transform=ax.get_xaxis_transform(), gid="diverged")
            ax.annotate(f"{len(group)} {'/'.join(sorted(set(group['status'])))}", (lr, 1.0), fontsize=7,
                        xycoords=ax.get_xaxis_transform(), xytext=(4, -10), textcoords="offset points",
                        color=palette[line])


def plot_sensitivity(results: Results) -> sns.FacetGrid:
    """The judge's final headline value against the learning rate, one line per lr grid that differs in
    nothing else: median over completed seeds with their interquartile range; × where seeds diverged."""
    import seaborn as sns

    verdicts = results.verdicts()
    rows = _sensitivity_rows(results, verdicts)
    palette = _palette(sorted(rows["line"].unique()))
    done = rows[rows["status"] == "completed"]
    tasks = [t for t in verdicts.declarations if t in set(rows["task_key"])]
    grid = sns.relplot(data=done, x="lr", y="headline_final", hue="line", hue_order=list(palette), palette=palette,
                       kind="line", marker="o", estimator="median", errorbar=("pi", 50), err_style="bars",
                       facet_kws={"sharey": False}, **_facets(tasks))
    grid.set_titles("{col_name}")
    for task, ax in grid.axes_dict.items():
        ax.set_xscale("log")
        ax.set_ylabel(f"final {axis_label(verdicts.declarations[task], verdicts.declarations[task].headline)}")
        log_if_wide(ax, "y", done.loc[done["task_key"] == task, "headline_final"])
    _mark_bad(grid, rows, palette)
    grid.legend.set_title("lr grid (median, IQR of seeds; ×: diverged)")
    grid.tight_layout()
    return grid

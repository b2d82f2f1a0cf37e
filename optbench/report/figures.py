"""The report's figures: matplotlib drawn off-screen (Agg) and returned as inline SVG text.

Owns the look every figure shares: one colour per optimizer across the whole page and a line style plus
marker per configuration of that optimizer (:class:`Palette`, whose mapping the page states), axes
scaled from the data (log when positive values span decades, symlog when zeros or signs mix), plain
tick labels, and no in-figure legend for configurations (the page draws one shared HTML legend per
section, so nothing clips). Every configuration's artists carry an SVG id ``cfg-<key>-<n>`` so the
page's legend can hide and show them. Diverged trials are drawn faded up to their divergence step and
never set an axis limit. Dense layers (IQR bands, contour fills) are rasterised to keep the page small
and fast to write. Text stays SVG text and matplotlib escapes it; math parsing is off.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optbench import stats
from optbench.report.data import ReportData, diverged_curves, downsample_steps, seed_curves

WIDTH_IN = 12.0  # 1200 px at 100 dpi: readable on a 1280 px screen without scrolling sideways
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]
STYLE = {
    "svg.fonttype": "none", "text.parse_math": False, "font.size": 10, "axes.titlesize": 11,
    "legend.fontsize": 9, "svg.hashsalt": "optbench", "figure.dpi": 100, "savefig.dpi": 100,
    "axes.formatter.useoffset": False, "axes.formatter.limits": (-4, 5),
    # written into every text element's style: matplotlib's default list of 12 families is ~150 bytes each
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
}
F = TypeVar("F", bound=Callable[..., Any])
_FIGURE_NUMBER = itertools.count()


def styled(draw: F) -> F:
    """Run a figure function under :data:`STYLE` (text options are read when text is created and saved)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def config_key(config: str) -> str:
    """A short id for a configuration (ids never carry user text)."""
    return hashlib.sha1(str(config).encode()).hexdigest()[:10]


class Palette:
    """A fixed colour per optimizer name and a (line style, marker) per configuration of that optimizer."""

    def __init__(self, optimizers: Iterable[str], configs: pd.DataFrame):
        names = sorted(set(map(str, optimizers)))
        self.colours = {name: TAB10[i % len(TAB10)] for i, name in enumerate(names)}
        self.styles: dict[str, tuple[str, str]] = {}
        for _, group in configs.drop_duplicates("config").groupby("optimizer", sort=True):
            for i, config in enumerate(sorted(group["config"])):
                self.styles[config] = (LINESTYLES[i % len(LINESTYLES)], MARKERS[i % len(MARKERS)])
        self._counter = itertools.count()

    def colour(self, optimizer: str) -> str:
        return self.colours.get(str(optimizer), "#666666")

    hex = colour

    def style(self, config: str) -> str:
        return self.styles.get(config, ("-", "o"))[0]

    def marker(self, config: str) -> str:
        return self.styles.get(config, ("-", "o"))[1]

    def gid(self, config: str) -> str:
        return f"cfg-{config_key(config)}-{next(self._counter)}"

    def line_kwargs(self, config: str, optimizer: str, points: int) -> dict[str, Any]:
        return {"color": self.colour(optimizer), "linestyle": self.style(config), "marker": self.marker(config),
                "markevery": max(1, points // 6), "ms": 4.5, "lw": 1.5, "gid": self.gid(config)}


def palette_for(data: ReportData) -> Palette:
    return Palette(data.trials["optimizer"], data.trials[["config", "optimizer"]])


#: resolution of the rasterised parts of a figure (seed bands, filled contours): soft fills, so half the page's
#: 100 dpi looks the same and costs a quarter of the bytes
RASTER_DPI = 50
_DECIMALS = re.compile(r"-?\d+\.\d{2,}")


def _round(match: re.Match[str]) -> str:
    return f"{float(match.group(0)):.1f}"


def to_svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element with page-unique ids (every figure's ids get a prefix)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", dpi=RASTER_DPI)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # coordinates to 0.1 px (matplotlib writes 6 decimals): a third of a page's bytes, invisible
    text = re.sub(r' (d|x|y|transform)="([^"]*)"',
                  lambda m: f' {m.group(1)}="' + _DECIMALS.sub(_round, m.group(2)) + '"', text)
    # metadata holds the matplotlib version and date: noise in the page, and unstable across builds
    text = re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    prefix = f"f{next(_FIGURE_NUMBER)}-"
    text = re.sub(r'\bid="', f'id="{prefix}', text)
    text = text.replace("url(#", f"url(#{prefix}").replace('xlink:href="#', f'xlink:href="#{prefix}')
    return text.replace("<svg ", '<svg class="figure" ', 1)


def _figure(rows: int, cols: int, height_per_row: float = 3.0, legend_rows: int = 0,
            right_in: float = 0.25) -> tuple[Figure, np.ndarray]:
    """A grid with fixed margins in inches (constrained layout costs ~0.5 s a figure at this size, and
    short plain tick labels plus these margins keep titles, labels and ticks apart without it).

    A bare :class:`~matplotlib.figure.Figure`, not pyplot's: no window manager, no global figure list to
    close, and saving as SVG picks the SVG canvas (no display backend is ever loaded)."""
    height = rows * height_per_row + 0.3 * legend_rows + 0.2
    fig = Figure(figsize=(WIDTH_IN, height))
    axes = fig.subplots(rows, cols, squeeze=False)
    fig.subplots_adjust(left=0.85 / WIDTH_IN, right=1 - right_in / WIDTH_IN, top=1 - 0.4 / height,
                        bottom=(0.6 + 0.3 * legend_rows) / height, wspace=0.3 if cols > 1 else 0,
                        hspace=1.0 / max(height_per_row - 1.0, 0.5))
    return fig, axes


def _legend_below(fig: Figure, handles: list[Any], labels: list[str], ncols: int) -> None:
    """One legend for the figure under its axes, in the space ``_figure(legend_rows=...)`` reserved."""
    if handles:
        labels = [label if len(label) <= 60 else label[:59] + "…" for label in labels]
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=ncols, frameon=False)


def legend_rows(n_entries: int, ncols: int) -> int:
    return math.ceil(n_entries / ncols) if n_entries else 0


def _plain(value: float, _: Any = None) -> str:
    """Tick text: up to 3 significant digits, no offset, no math text."""
    return f"{value:.3g}".replace("e+0", "e").replace("e-0", "e-")


def set_scale(ax: Any, which: str, values: Iterable[float], prefer_log: bool = False) -> str:
    """Linear, log or symlog from the data, with plain tick labels; returns the scale chosen.

    Log when the values are positive, span > 2 decades and crowd the bottom of a linear axis (a third of
    them in its lowest 5 %: a decaying loss, not an accuracy climbing from near 0); symlog when zeros or
    mixed signs come with such a range; ``prefer_log`` (learning rates, batch sizes, κ, times per
    update) takes log for any positive values that are not all equal.
    """
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array)]
    axis = ax.xaxis if which == "x" else ax.yaxis
    setter = ax.set_xscale if which == "x" else ax.set_yscale
    scale = "linear"
    if array.size:
        nonzero = np.abs(array[array != 0])
        wide = bool(nonzero.size) and nonzero.max() / max(nonzero.min(), 1e-300) > (1 if prefer_log else 100)
        low, high = array.min(), array.max()
        crowded = prefer_log or (high > low and float(np.mean(array <= low + 0.05 * (high - low))) > 1 / 3)
        if wide and crowded and (array > 0).all():
            scale = "log"
            setter("log")
            axis.set_major_locator(_log_locator(array, prefer_log))
        elif wide and crowded:
            scale = "symlog"
            linthresh = float(np.quantile(nonzero, 0.05))
            setter("symlog", linthresh=linthresh)
            axis.set_major_locator(_symlog_locator(array, linthresh))
    if scale == "linear":
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(_plain))
    # no minor ticks: unlabelled anyway, and each is an artist that costs time to lay out and draw
    axis.set_minor_locator(matplotlib.ticker.NullLocator())
    return scale


def _symlog_locator(array: np.ndarray, linthresh: float, per_side: int = 3) -> matplotlib.ticker.Locator:
    """0 and at most ``per_side`` decades each side, largest first, skipping the decade at ``linthresh``:
    matplotlib's default labels every decade, and the linear region is drawn one decade wide, so
    "-1e-6", "0", "1e-6" (and the decades of a span of many) land on top of each other."""
    ticks = [0.0]
    for sign, side in ((1.0, array[array > 0]), (-1.0, -array[array < 0])):
        if side.size == 0:
            continue
        decades = list(range(math.floor(math.log10(side.max())), math.ceil(math.log10(linthresh)), -1))
        ticks += [sign * 10.0 ** d for d in decades[::max(1, math.ceil(len(decades) / per_side))]]
    return matplotlib.ticker.FixedLocator(sorted(ticks))


def _log_locator(array: np.ndarray, exact: bool) -> matplotlib.ticker.Locator:
    """Ticks at the values themselves when a few were run (batch sizes, lrs, κ); 1-2-5 ticks when the data
    spans less than two decades (plain decades would leave the axis unlabelled); decades otherwise."""
    distinct = np.unique(array)
    if exact and distinct.size <= 8:
        return matplotlib.ticker.FixedLocator(distinct)
    if array.max() / array.min() < 100:
        return matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0), numticks=8)
    return matplotlib.ticker.LogLocator(numticks=6)


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars - 1] + "…"


def _finish(ax: Any, xlabel: str, ylabel: str, title: str | None = None) -> None:
    ax.set_xlabel(xlabel)
    # wrapped or long, a label runs into the neighbouring panel's tick labels; the tables name every metric in full
    ax.set_ylabel(_cut(ylabel, 30))
    if title:
        # a fixed y: matplotlib otherwise measures every tick label on each draw to place the title
        ax.set_title(_cut(title, 42), fontsize=10, y=1.0, pad=6)  # wider than its panel it runs over the next
    ax.grid(alpha=0.3)


def _draw_curves(ax: Any, curves: pd.DataFrame, x: str, palette: Palette, bands: bool) -> None:
    for (config, optimizer), curve in curves.groupby(["config", "optimizer"], sort=True):
        ax.plot(curve[x], curve["median"], **palette.line_kwargs(config, optimizer, len(curve)))
        if bands and (curve["n"] > 1).any():
            ax.fill_between(curve[x], curve["q25"], curve["q75"], color=palette.colour(optimizer), alpha=0.18,
                            lw=0, rasterized=True, gid=palette.gid(config))


def _draw_diverged(ax: Any, data: ReportData, task_label: str, metric: str, x: str, palette: Palette) -> None:
    """Faded lines up to the divergence, clipped to the limits the completed trials set, × at the end."""
    rows = diverged_curves(data, task_label, metric)
    if rows.empty:
        return
    low, high = ax.get_ylim()
    config_of = data.trials.set_index("trial_id")[["config", "optimizer"]]
    for trial_id, path in rows.groupby("trial_id", sort=True):
        config, optimizer = config_of.loc[trial_id]
        values = path["value"].clip(low, high)
        ax.plot(path[x], values, color=palette.colour(optimizer), alpha=0.35, lw=1.0, linestyle=":",
                gid=palette.gid(config))
        ax.plot(path[x].iloc[-1:], values.iloc[-1:], marker="x", ms=7, color=palette.colour(optimizer),
                alpha=0.7, lw=0, gid=palette.gid(config))
    ax.set_ylim(low, high)


@styled
def convergence(data: ReportData, task_label: str, palette: Palette, max_points: int = 120) -> str | None:
    """Each declared metric against step (median over completed seeds, IQR band), and the headline metric
    against training time; diverged trials faded up to their divergence."""
    info = data.infos[task_label]
    metrics = data.curve_metrics(task_label)
    if not metrics:
        return None
    panels = [(m, "step") for m in metrics] + [(info.headline, "time")]
    cols = min(3, len(panels))
    fig, axes = _figure(math.ceil(len(panels) / cols), cols, 3.0)
    bands = data.task_trials(task_label)["config"].nunique() <= 16
    for ax, (metric, x) in zip(axes.flat, panels, strict=False):
        curves = seed_curves(data, task_label, metric, max_points)
        _draw_curves(ax, curves, x, palette, bands)
        set_scale(ax, "y", pd.concat([curves["median"], curves["q25"], curves["q75"]]) if bands else curves["median"])
        set_scale(ax, "x", [0, 1])
        _draw_diverged(ax, data, task_label, metric, x, palette)
        meta = info.metric(metric)
        _finish(ax, "optimizer step" if x == "step" else "training time (s, evaluation excluded)",
                meta.label + (f" ({meta.unit})" if meta.unit else ""),
                meta.label + (" — headline" if metric == info.headline else ""))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return to_svg(fig)


@styled
def lr_schedules(data: ReportData, task_label: str, palette: Palette, max_points: int = 100) -> str | None:
    """The learning rate each configuration actually used (multiplier × base lr) against step."""
    if not _lr_varies(data.task_metric(task_label, "lr")):
        return None  # constant learning rates: the leaderboard's labels already say them
    curves = seed_curves(data, task_label, "lr", max_points)
    fig, axes = _figure(1, 1, 2.6)
    ax = axes[0, 0]
    for (config, optimizer), curve in curves.groupby(["config", "optimizer"], sort=True):
        ax.plot(curve["step"], curve["median"], **palette.line_kwargs(config, optimizer, len(curve)))
    set_scale(ax, "y", curves["median"])
    _finish(ax, "optimizer step", "learning rate")
    return to_svg(fig)


def _lr_varies(rows: pd.DataFrame) -> bool:
    """Whether any trial's recorded learning rate changes during training (one vectorised pass)."""
    if rows.empty:
        return False
    order = np.argsort(rows["trial_id"].cat.codes.to_numpy(), kind="stable")  # each trial's rows together
    trial, value = rows["trial_id"].cat.codes.to_numpy()[order], rows["value"].to_numpy()[order]
    return bool(np.any((trial[1:] == trial[:-1]) & (value[1:] != value[:-1])))


def equal_budget_values(data: ReportData, task_label: str, metric: str, column: str, at: float) -> pd.Series:
    """Per completed trial: the last value of ``metric`` with ``column`` (step or epoch) ≤ ``at``."""
    done = data.task_trials(task_label, completed_only=True)["trial_id"]
    rows = data.task_metric(task_label, metric)
    rows = rows[rows["trial_id"].isin(done)]
    rows = rows[(rows[column] <= at * (1 + 1e-9)) & np.isfinite(rows["value"])]
    return rows.sort_values("step").groupby("trial_id")["value"].last()


def batch_size_table(data: ReportData, task_label: str) -> pd.DataFrame:
    """Per store, optimizer config and batch size (median over completed seeds): times, the headline metric
    at equal updates and at equal epochs, and the generalization gap (when the store records it)."""
    info = data.infos[task_label]
    trials = data.task_trials(task_label, completed_only=True)
    trials = trials[trials["steps"] > 0]
    if trials.empty or trials["batch_size_value"].nunique() < 2:
        return pd.DataFrame()
    steps_at, epochs_at = float(trials["steps"].min()), float(trials["epochs"].min())
    trials = trials.assign(
        time_per_update=trials["train_time"] / trials["steps"],
        time_per_epoch=trials["train_time"] / trials["epochs"].where(trials["epochs"] > 0),
        at_equal_updates=equal_budget_values(data, task_label, info.headline, "step", steps_at).reindex(
            trials["trial_id"]).to_numpy(),
        at_equal_epochs=equal_budget_values(data, task_label, info.headline, "epoch", epochs_at).reindex(
            trials["trial_id"]).to_numpy())
    columns = ["time_per_update", "time_per_epoch", "at_equal_updates", "at_equal_epochs"]
    if "generalization_gap" in trials and trials["generalization_gap"].notna().any():
        columns.append("generalization_gap")
    keys = ["store", "optimizer", "optimizer_label", "schedule_label", "batch_size_value"]
    table = trials.groupby(keys, sort=True)[columns].median()
    table["time_per_update_min"] = trials.groupby(keys)["time_per_update"].min()
    table["time_per_update_max"] = trials.groupby(keys)["time_per_update"].max()
    table["seeds"] = trials.groupby(keys)["seed"].count()
    table.attrs.update(steps_at=steps_at, epochs_at=epochs_at)
    out = table.reset_index().sort_values(keys)
    out.attrs.update(table.attrs)
    return out


@styled
def batch_size(data: ReportData, task_label: str, palette: Palette, table: pd.DataFrame) -> str | None:
    """Headline metric at equal updates and at equal epochs, time per update (log), generalization gap."""
    if table.empty:
        return None
    info = data.infos[task_label]
    label = info.metric(info.headline).label
    panels = [("at_equal_updates", f"{label} after {int(table.attrs['steps_at'])} updates (equal updates)"),
              ("at_equal_epochs", f"{label} after {table.attrs['epochs_at']:.3g} epochs (equal epochs)"),
              ("time_per_update", "training time per update (s)")]
    if "generalization_gap" in table:
        panels.append(("generalization_gap", "generalization gap: val loss − full train-subset loss"))
    n_lines = table.groupby(["store", "optimizer", "optimizer_label", "schedule_label"]).ngroups
    fig, axes = _figure(math.ceil(len(panels) / 2), 2, 2.8, legend_rows=legend_rows(n_lines, 3))
    for ax, (column, title) in zip(axes.flat, panels, strict=False):
        for (store, optimizer, opt_label, schedule), group in table.groupby(
                ["store", "optimizer", "optimizer_label", "schedule_label"], sort=True):
            config = f"{store}: {opt_label} · {schedule}" if data.multi_store else f"{opt_label} · {schedule}"
            kwargs = {"color": palette.colour(optimizer), "marker": MARKERS[len(ax.lines) % len(MARKERS)],
                      "lw": 1.4, "ms": 5}
            if column == "time_per_update":
                ax.errorbar(group["batch_size_value"], group[column], yerr=[
                    group[column] - group["time_per_update_min"], group["time_per_update_max"] - group[column]],
                    capsize=3, **kwargs)
            else:
                ax.plot(group["batch_size_value"], group[column], **kwargs)
            ax.lines[-1].set_label(config)
        set_scale(ax, "x", table["batch_size_value"], prefer_log=True)
        set_scale(ax, "y", table[column], prefer_log=column == "time_per_update")
        _finish(ax, "batch size (examples per update)", "", title)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels, 3)
    return to_svg(fig)


MARKS = {"minimum": ("*", "minimum"), "maximum": ("^", "maximum"), "saddle": ("X", "saddle point"),
         "degenerate": ("D", "degenerate point")}


@styled
def contours(data: ReportData, task_label: str, palette: Palette, max_points: int = 150,
             max_trajectories: int = 30) -> str | None:
    """The stored 2-D surface as contours, its critical points marked, each configuration's trajectory."""
    xy = pd.concat([data.task_metric(task_label, "x"), data.task_metric(task_label, "y")])
    if xy.empty:
        return None
    info = data.infos[task_label]
    trials = data.task_trials(task_label)
    shown = trials.sort_values(["config", "seed"]).groupby("config", sort=True).head(
        max(1, max_trajectories // max(trials["config"].nunique(), 1)))
    xy = xy[xy["trial_id"].isin(shown["trial_id"])]  # only the trajectories drawn
    points = xy.pivot_table(index=["trial_id", "step"], columns="metric", values="value",
                            observed=True).reset_index()
    points = points.dropna(subset=["x", "y"])
    points = points[np.isfinite(points["x"]) & np.isfinite(points["y"])]
    by_trial = dict(tuple(points.groupby("trial_id", sort=False, observed=True)))
    fig, axes = _figure(1, 1, 6.0)
    ax = axes[0, 0]
    surface = info.surface
    if surface:
        _draw_surface(ax, surface, info.critical_points)
    for _, trial in shown.iterrows():
        path = by_trial.get(trial["trial_id"])
        if path is None or path.empty:
            continue
        path = path[path["step"].isin(downsample_steps(path["step"].to_numpy(), max_points))]
        faded = trial["status"] != "completed"
        ax.plot(path["x"], path["y"], color=palette.colour(trial["optimizer"]),
                linestyle=palette.style(trial["config"]), lw=1.0 if faded else 1.4, alpha=0.35 if faded else 0.9,
                gid=palette.gid(trial["config"]))
        ax.plot(path["x"].iloc[-1:], path["y"].iloc[-1:], color=palette.colour(trial["optimizer"]), lw=0,
                marker="x" if faded else palette.marker(trial["config"]), ms=6, gid=palette.gid(trial["config"]))
    if surface:
        ax.set_xlim(surface["box"][0], surface["box"][1])
        ax.set_ylim(surface["box"][2], surface["box"][3])
    set_scale(ax, "x", [0, 1])
    set_scale(ax, "y", [0, 1])
    _finish(ax, "x (parameter 1)", "y (parameter 2)")
    return to_svg(fig)


def _draw_surface(ax: Any, surface: dict[str, Any], critical_points: list[dict[str, Any]]) -> None:
    gx, gy = np.meshgrid(np.asarray(surface["x"], float), np.asarray(surface["y"], float), indexing="xy")
    z = np.asarray(surface["z"], dtype=float)
    finite = z[np.isfinite(z)]
    if finite.size:
        # quantile levels show the structure of both shallow and steep regions
        levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 25)))
        if levels.size >= 2:
            ax.contourf(gx, gy, z, levels=levels, cmap="Greys_r", alpha=0.55).set_rasterized(True)
            ax.contour(gx, gy, z, levels=levels, colors="0.35", linewidths=0.4)
    for point in critical_points:
        marker, _ = MARKS.get(point.get("kind", ""), ("o", ""))
        ax.scatter([point["x"]], [point["y"]], marker=marker, s=150, color="black", edgecolor="white", zorder=5)


def sensitivity_groups(trials: pd.DataFrame) -> pd.Series:
    """What an lr grid is: same store, optimizer, schedule, batch size and every other hyperparameter."""
    import json

    def others(params: Any) -> str:
        try:
            values = json.loads(params) if isinstance(params, str) else {}
        except json.JSONDecodeError:
            values = {}
        return json.dumps({k: v for k, v in sorted(values.items()) if k != "lr"}, default=str)

    rest = trials["optimizer_params"].map(others) if "optimizer_params" in trials else ""
    return (trials["store"].astype(str) + "|" + trials["optimizer"].astype(str) + "|" + trials["schedule_label"]
            .astype(str) + "|" + trials["batch_size"].astype(str) + "|" + rest)


def sensitivity_name(group: pd.DataFrame, multi_store: bool) -> str:
    label = str(group["optimizer_label"].iloc[0])
    # the optimizer label without its lr: "momentum[lr=0.1,momentum=0.5]" -> "momentum[momentum=0.5]"
    label = re.sub(r"lr=[^,\]]*,?", "", label).replace("[]", "").replace(",]", "]")
    name = f"{label} · {group['schedule_label'].iloc[0]} · bs={group['batch_size'].iloc[0]}"
    return f"{group['store'].iloc[0]}: {name}" if multi_store else name


@styled
def lr_sensitivity(data: ReportData, task_label: str, palette: Palette) -> str | None:
    """Final headline metric (median over completed seeds, IQR bars) against lr, one line per lr grid that
    differs in nothing else; an lr where seeds diverged is marked × at the top with the count."""
    info = data.infos[task_label]
    trials = data.task_trials(task_label)
    trials = trials.assign(grid=sensitivity_groups(trials))
    grids = trials[trials.groupby("grid")["lr"].transform("nunique").to_numpy() > 1]
    if grids.empty:
        return None
    fig, axes = _figure(1, 1, 3.4, legend_rows=legend_rows(grids["grid"].nunique(), 3))
    ax = axes[0, 0]
    done = grids[(grids["status"] == "completed") & np.isfinite(grids["headline_final"].astype(float))]
    done_by_grid = dict(tuple(done.groupby("grid", sort=False)))
    for i, (grid, group) in enumerate(grids.groupby("grid", sort=True)):
        summary = stats.seed_summary(done_by_grid.get(grid, done.iloc[:0]), "lr", "headline_final")
        summary = summary.sort_values("lr")
        name = sensitivity_name(group, data.multi_store)
        colour = palette.colour(group["optimizer"].iloc[0])
        ax.plot(summary["lr"], summary["median"], color=colour, marker=MARKERS[i % len(MARKERS)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], label=name, lw=1.4, ms=5)
        # IQR as one collection of bars (errorbar makes three artists per point: slow on big grids)
        ax.vlines(summary["lr"], summary["q25"], summary["q75"], color=colour, lw=1.2)
    set_scale(ax, "y", done["headline_final"])
    set_scale(ax, "x", grids["lr"], prefer_log=True)
    _mark_diverged_lrs(ax, grids, palette)
    meta = info.metric(info.headline)
    _finish(ax, "base learning rate", f"final {meta.label}" + (f" ({meta.unit})" if meta.unit else ""))
    _legend_below(fig, *ax.get_legend_handles_labels(), 3)
    return to_svg(fig)


def _mark_diverged_lrs(ax: Any, grids: pd.DataFrame, palette: Palette) -> None:
    """× at the top of the axis for every (grid, lr) with a diverged or failed seed, labelled bad/total."""
    bad = grids[grids["status"] != "completed"]
    if bad.empty:
        return
    top = ax.get_ylim()[1]
    stacked: dict[float, int] = {}
    for (grid, lr), group in bad.groupby(["grid", "lr"], sort=True):
        total = int(((grids["grid"] == grid) & (grids["lr"] == lr)).sum())
        colour = palette.colour(group["optimizer"].iloc[0])
        row = stacked[lr] = stacked.get(lr, -1) + 1  # several grids bad at one lr: labels stack downwards
        ax.plot([lr], [top], marker="x", ms=8, color=colour, lw=0, clip_on=False)
        ax.annotate(f"{len(group)}/{total}", (lr, top), textcoords="offset points", xytext=(5, -12 - 10 * row),
                    fontsize=7, color=colour)


def kappa_table(data: ReportData) -> pd.DataFrame:
    """When a study sweeps ``kappa``: per task name, optimizer and κ, the best configuration's median steps
    to the target (its lr tuned per κ by the study's grid), over completed seeds."""
    rows = []
    for task_label in data.tasks:
        info = data.infos[task_label]
        kappa = info.task_params.get("kappa", info.facts.get("kappa"))
        if kappa is None:
            continue
        done = data.task_trials(task_label, completed_only=True)
        if done.empty:
            continue
        per_config = done.groupby(["optimizer", "config"])["steps_to_target"].median().reset_index()
        best = per_config.sort_values("steps_to_target").groupby("optimizer").first().reset_index()
        for _, r in best.iterrows():
            rows.append({"task": str(done["task"].iloc[0]), "kappa": float(kappa), "optimizer": r["optimizer"],
                         "config": r["config"], "steps_to_target": float(r["steps_to_target"])})
    table = pd.DataFrame(rows)
    if table.empty or table.groupby("task")["kappa"].nunique().max() < 2:
        return pd.DataFrame()
    return table


def kappa_slopes(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Least-squares slope of log(steps to target) against log κ per (task, optimizer), finite points only."""
    slopes = {}
    for (task, optimizer), group in table.groupby(["task", "optimizer"], sort=True):
        finite = group[np.isfinite(group["steps_to_target"]) & (group["steps_to_target"] > 0)]
        if finite["kappa"].nunique() >= 2:
            slopes[(task, optimizer)] = float(np.polyfit(np.log(finite["kappa"]), np.log(finite["steps_to_target"]),
                                                         1)[0])
    return slopes


@styled
def kappa_view(table: pd.DataFrame, palette: Palette) -> str | None:
    """Steps to target against κ on log-log axes with the fitted slope per optimizer in its label."""
    if table.empty:
        return None
    slopes = kappa_slopes(table)
    fig, axes = _figure(1, 1, 3.8, legend_rows=legend_rows(table.groupby(["task", "optimizer"]).ngroups, 3))
    ax = axes[0, 0]
    for i, ((task, optimizer), group) in enumerate(table.groupby(["task", "optimizer"], sort=True)):
        group = group.sort_values("kappa")
        slope = slopes.get((task, optimizer))
        label = f"{task} · {optimizer}: slope {slope:.2f}" if slope is not None else f"{task} · {optimizer}"
        ax.plot(group["kappa"], group["steps_to_target"].where(np.isfinite(group["steps_to_target"])),
                color=palette.colour(optimizer), marker=MARKERS[i % len(MARKERS)], lw=1.6, label=label)
    set_scale(ax, "x", table["kappa"], prefer_log=True)
    set_scale(ax, "y", table["steps_to_target"], prefer_log=True)
    _finish(ax, "condition number κ = L/μ", "steps to target (median, best lr)")
    _legend_below(fig, *ax.get_legend_handles_labels(), 3)
    return to_svg(fig)


@styled
def performance_profile(profile: pd.DataFrame, optimizer_of: dict[str, str], palette: Palette,
                        cost_label: str) -> str:
    """ρ(τ) per configuration: the fraction of tasks solved within τ × the fastest configuration."""
    columns = max(1, min(3, 100 // max(1, max(len(str(c)) for c in profile.columns))))  # long labels: fewer
    fig, axes = _figure(1, 1, 3.4, legend_rows=legend_rows(len(profile.columns), columns))
    ax = axes[0, 0]
    seen: dict[str, int] = {}
    for config in profile.columns:
        optimizer = optimizer_of.get(config, "")
        seen[optimizer] = seen.get(optimizer, -1) + 1  # variants of one optimizer: same colour, new dash
        ax.step(profile.index, profile[config], where="post", color=palette.colour(optimizer),
                linestyle=LINESTYLES[seen[optimizer] % len(LINESTYLES)], label=config, lw=1.6,
                marker=MARKERS[seen[optimizer] % len(MARKERS)], markevery=max(1, len(profile) // 5))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([1, 1.5, 2, 3, 4]))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_plain))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(1, profile.index.max())
    ax.set_ylim(-0.02, 1.02)
    _finish(ax, f"τ: within this factor of the fastest {cost_label}", "fraction of tasks ρ(τ)")
    _legend_below(fig, *ax.get_legend_handles_labels(), columns)
    return to_svg(fig)

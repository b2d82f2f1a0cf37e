"""The report's figures: matplotlib/seaborn drawn off-screen (Agg) and returned as inline SVG text.

Owns the look every figure shares: one colour per optimizer across the whole page (:class:`Palette`),
a line style per configuration of that optimizer, labelled axes with units, legends outside the axes,
1200 px wide. Figures draw what :mod:`optbench.report.data` aggregated; they never touch the store.
Text is kept as SVG text (smaller, selectable) and matplotlib escapes it; math parsing is off so a
name with ``$`` in it is drawn as typed.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # no display: figures are rendered to SVG text only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from optbench import stats  # noqa: E402
from optbench.report.data import BOOKKEEPING_METRICS, ReportData, downsample_steps, seed_curves  # noqa: E402

WIDTH_IN = 12.0  # 1200 px at 100 dpi: readable on a 1280 px screen without scrolling sideways
LINESTYLES = ["-", "--", ":", "-."]
STYLE = {
    "svg.fonttype": "none", "text.parse_math": False, "font.size": 10, "axes.titlesize": 11,
    "legend.fontsize": 9, "svg.hashsalt": "optbench", "figure.dpi": 100,
}
F = TypeVar("F", bound=Callable[..., Any])


def styled(draw: F) -> F:
    """Run a figure function under :data:`STYLE` (text options are read when text is created and saved)."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


UNITS = {"step": "optimizer step", "epoch": "epoch", "time": "training wall time (s)"}


class Palette:
    """A fixed colour per optimizer name and a line style per configuration, shared by every figure."""

    def __init__(self, optimizers: Iterable[str], configs: pd.DataFrame):
        names = sorted(set(optimizers))
        colours = sns.color_palette("tab10" if len(names) <= 10 else "husl", len(names))
        self.colours = {name: colours[i] for i, name in enumerate(names)}
        self.styles: dict[str, str] = {}
        for _, group in configs.drop_duplicates("config").groupby("optimizer", sort=True):
            for i, config in enumerate(sorted(group["config"])):
                self.styles[config] = LINESTYLES[i % len(LINESTYLES)]

    def colour(self, optimizer: str) -> Any:
        return self.colours.get(optimizer, (0.4, 0.4, 0.4))

    def style(self, config: str) -> str:
        return self.styles.get(config, "-")

    def hex(self, optimizer: str) -> str:
        return matplotlib.colors.to_hex(self.colour(optimizer))


def palette_for(data: ReportData) -> Palette:
    return Palette(data.trials["optimizer"], data.trials[["config", "optimizer"]])


def to_svg(fig: plt.Figure) -> str:
    """The figure as an ``<svg>`` element (XML prolog and DOCTYPE dropped so it can be inlined)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # metadata holds the matplotlib version and date: noise in the page, and unstable across builds
    return re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _figure(rows: int, cols: int, height_per_row: float = 3.0, **kwargs: Any) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, height_per_row * rows + 0.6),
                             squeeze=False, layout="constrained", **kwargs)
    return fig, axes


def _legend_outside(fig: plt.Figure, axes: np.ndarray) -> None:
    handles, labels = {}, []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    if handles:
        fig.legend([handles[label] for label in labels], labels, loc="outside right upper", frameon=False)


def _log_axis(ax: Any, which: str, base: float = 10) -> None:
    """A log axis with plain-number tick labels (math text is off, so the default $10^{k}$ labels are not used)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log", base=base)
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _log_helps(values: pd.Series) -> bool:
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool((finite > 0).all()) and finite.max() / max(finite.min(), 1e-300) > 100


def metric_label(metric: str) -> str:
    if "acc" in metric:
        return f"{metric} (fraction correct)"
    if "loss" in metric:
        return f"{metric} (loss units)"
    return metric


def curve_metrics(data: ReportData, task_label: str) -> list[str]:
    """Training loss first, then the task's own metrics (validation loss/accuracy, distances, ...)."""
    names = [m for m in data.metric_names(task_label) if m not in BOOKKEEPING_METRICS and m != "train_loss"]
    return (["train_loss"] if data.has_metric(task_label, "train_loss") else []) + names[:3]


@styled
def convergence(data: ReportData, task_label: str, palette: Palette, max_points: int = 150) -> str | None:
    """Median over seeds (line) with the IQR band, against step, epoch and wall time; one row per metric."""
    metrics = curve_metrics(data, task_label)
    if not metrics:
        return None
    task_trials = data.trials[data.trials["task_label"] == task_label]
    axes_x = ["step", "epoch", "time"] if task_trials["epochs"].max() > 1 else ["step", "time"]
    fig, axes = _figure(len(metrics), len(axes_x), 2.8)
    for r, metric in enumerate(metrics):
        curves = seed_curves(data, task_label, metric, max_points)
        for c, x in enumerate(axes_x):
            ax = axes[r, c]
            for (config, optimizer), curve in curves.groupby(["config", "optimizer"], sort=True):
                colour = palette.colour(optimizer)
                ax.plot(curve[x], curve["median"], color=colour, linestyle=palette.style(config), lw=1.4,
                        label=config, marker="o" if len(curve) < 3 else None, ms=3)
                if (curve["n"] > 1).any():
                    ax.fill_between(curve[x], curve["q25"], curve["q75"], color=colour, alpha=0.2, lw=0)
            if _log_helps(curves["median"]):
                _log_axis(ax, "y")
            ax.set_xlabel(UNITS[x])
            ax.set_ylabel(metric_label(metric))
            ax.grid(alpha=0.3)
    _legend_outside(fig, axes)
    fig.suptitle(f"{task_label}: median over seeds, band = interquartile range")
    return to_svg(fig)


@styled
def lr_schedules(data: ReportData, task_label: str, palette: Palette, max_points: int = 150) -> str | None:
    """The learning rate each configuration actually used (multiplier × base lr) against step."""
    curves = seed_curves(data, task_label, "lr", max_points)
    if curves.empty:
        return None
    fig, axes = _figure(1, 1, 3.0)
    ax = axes[0, 0]
    for (config, optimizer), curve in curves.groupby(["config", "optimizer"], sort=True):
        ax.plot(curve["step"], curve["median"], color=palette.colour(optimizer), linestyle=palette.style(config),
                label=config, lw=1.4)
    if _log_helps(curves["median"]):
        _log_axis(ax, "y")
    ax.set_xlabel(UNITS["step"])
    ax.set_ylabel("learning rate (multiplier × base lr)")
    ax.grid(alpha=0.3)
    _legend_outside(fig, axes)
    return to_svg(fig)


def batch_size_table(data: ReportData, task_label: str) -> pd.DataFrame:
    """Per optimizer and batch size (median over seeds): time per epoch and update, final metrics, gap."""
    trials = data.trials[(data.trials["task_label"] == task_label) & (data.trials["status"] == "completed")]
    trials = trials.assign(time_per_update=trials["train_time"] / trials["steps"].where(trials["steps"] > 0),
                           time_per_epoch=trials["train_time"] / trials["epochs"].where(trials["epochs"] > 0))
    columns = {"time_per_epoch": "time_per_epoch", "time_per_update": "time_per_update",
               "final_train_loss": "final_train_loss"}
    for name in ("final_val_loss", "final_val_acc"):
        if name in trials:
            columns[name] = name
    if "final_val_loss" in trials:
        trials = trials.assign(generalization_gap=trials["final_val_loss"] - trials["final_train_loss"])
        columns["generalization_gap"] = "generalization_gap"
    keys = ["store", "optimizer", "optimizer_label", "schedule_label", "batch_size_value"]
    table = trials.groupby(keys, sort=True)[list(columns)].median().reset_index()
    return table.sort_values(keys)


@styled
def batch_size(data: ReportData, task_label: str, palette: Palette) -> str | None:
    """Time per epoch / per update and final metrics against batch size: the small-vs-large-batch picture."""
    table = batch_size_table(data, task_label)
    if table["batch_size_value"].nunique() < 2:
        return None
    panels = [("time_per_epoch", "time per epoch (s)"), ("time_per_update", "time per update (s)"),
              ("final_train_loss", "final train loss (loss units)")]
    if "final_val_acc" in table:
        panels.append(("final_val_acc", "final val accuracy (fraction)"))
    if "generalization_gap" in table:
        panels.append(("generalization_gap", "val loss − train loss (loss units)"))
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = _figure(rows, cols, 3.0)
    for ax, (column, label) in zip(axes.flat, panels, strict=False):
        for (store, optimizer, opt_label, schedule), group in table.groupby(
                ["store", "optimizer", "optimizer_label", "schedule_label"], sort=True):
            name = f"{store}: {opt_label} · {schedule}" if data.multi_store else f"{opt_label} · {schedule}"
            ax.plot(group["batch_size_value"], group[column], marker="o", color=palette.colour(optimizer),
                    label=name, lw=1.4)
        _log_axis(ax, "x", 2)
        ax.set_xlabel("batch size (examples per update)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    _legend_outside(fig, axes)
    return to_svg(fig)


def _build_task(registry: Any, name: str, params_json: str) -> Any | None:
    """The task object (for its surface), or None when it is not registered here (e.g. a missing plugin)."""
    try:
        return registry.get("task", name).factory(**json.loads(params_json))
    except Exception:  # an unknown plugin task or bad params: the page draws trajectories without contours
        return None


@styled
def contours(data: ReportData, task_label: str, palette: Palette, registry: Any,
             max_points: int = 200, max_trajectories: int = 60) -> str | None:
    """The 2-D surface as contours, critical points marked, every configuration's trajectory on top."""
    xy = data.metrics[(data.metrics["task_label"] == task_label) & data.metrics["metric"].isin(["x", "y"])]
    if xy.empty:
        return None
    trials = data.trials[data.trials["task_label"] == task_label]
    first = trials.iloc[0]
    task = _build_task(registry, str(first["task"]), str(first["task_params"]))
    points = xy.pivot_table(index=["trial_id", "step"], columns="metric", values="value").reset_index()
    points = points.dropna(subset=["x", "y"])
    points = points[np.isfinite(points["x"]) & np.isfinite(points["y"])]
    # one trajectory per (config, seed), thinned evenly over configs when there are too many to see
    shown = trials.sort_values(["config", "seed"]).groupby("config", sort=True).head(
        max(1, max_trajectories // max(trials["config"].nunique(), 1)))
    fig, axes = _figure(1, 1, 6.5)
    ax = axes[0, 0]
    if task is not None and getattr(task, "is_2d", False):
        import torch

        x0, x1, y0, y1 = task.plot_box()
        gx, gy = torch.meshgrid(torch.linspace(x0, x1, 200, dtype=torch.float64),
                                torch.linspace(y0, y1, 200, dtype=torch.float64), indexing="xy")
        with torch.no_grad():
            z = task.surface(gx, gy).numpy()
        # quantile levels show the structure of both shallow and steep regions
        levels = np.unique(np.quantile(z[np.isfinite(z)], np.linspace(0.0, 1.0, 25)))
        ax.contourf(gx.numpy(), gy.numpy(), z, levels=levels, cmap="Greys_r", alpha=0.55)
        ax.contour(gx.numpy(), gy.numpy(), z, levels=levels, colors="0.35", linewidths=0.4)
        markers = {"minimum": ("*", "minimum"), "maximum": ("^", "maximum"), "saddle": ("X", "saddle point"),
                   "degenerate": ("D", "degenerate point")}
        for point in task.critical_points():
            marker, label = markers.get(point.kind, ("o", point.kind))
            ax.scatter([point.x], [point.y], marker=marker, s=140, color="black", edgecolor="white", zorder=5,
                       label=label)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    for _, trial in shown.iterrows():
        path = points[points["trial_id"] == trial["trial_id"]]
        path = path[path["step"].isin(downsample_steps(path["step"].to_numpy(), max_points))]
        if path.empty:
            continue
        ax.plot(path["x"], path["y"], color=palette.colour(trial["optimizer"]),
                linestyle=palette.style(trial["config"]), lw=1.3, label=trial["config"], alpha=0.9)
        ax.scatter(path["x"].iloc[-1:], path["y"].iloc[-1:], color=palette.colour(trial["optimizer"]), s=18,
                   zorder=4)
    ax.set_xlabel("x (parameter 1)")
    ax.set_ylabel("y (parameter 2)")
    ax.set_aspect("auto")
    _legend_outside(fig, axes)
    return to_svg(fig)


@styled
def lr_sensitivity(data: ReportData, task_label: str, palette: Palette) -> str | None:
    """Final training loss (median, IQR bars) against lr for each optimizer with more than one lr run."""
    trials = data.trials[data.trials["task_label"] == task_label]
    keys = ["store", "optimizer", "schedule_label", "batch_size"]
    grids = trials.groupby(keys, sort=True).filter(lambda g: g["lr"].nunique() > 1)
    if grids.empty:
        return None
    fig, axes = _figure(1, 1, 3.6)
    ax = axes[0, 0]
    finite = grids[np.isfinite(grids["final_train_loss"])]
    top = finite["final_train_loss"].max() if not finite.empty else 1.0
    for (store, optimizer, schedule, bs), group in grids.groupby(keys, sort=True):
        summary = stats.seed_summary(group[np.isfinite(group["final_train_loss"])], "lr", "final_train_loss")
        summary = summary.sort_values("lr")
        name = f"{optimizer} · {schedule} · bs={bs}"
        name = f"{store}: {name}" if data.multi_store else name
        colour = palette.colour(optimizer)
        ax.errorbar(summary["lr"], summary["median"], yerr=[summary["median"] - summary["q25"],
                                                            summary["q75"] - summary["median"]],
                    color=colour, marker="o", capsize=3, label=name, lw=1.4)
        blown = group.loc[group["status"] == "diverged", "lr"].unique()
        if len(blown):
            ax.scatter(blown, [top] * len(blown), marker="x", s=60, color=colour, zorder=5,
                       label="diverged (drawn at the top)")
    _log_axis(ax, "x")
    ax.set_xticks(sorted(grids["lr"].unique()))  # label every lr that was run, not only the decades
    if _log_helps(finite["final_train_loss"]):
        _log_axis(ax, "y")
    ax.set_xlabel("base learning rate (log scale)")
    ax.set_ylabel("final train loss (loss units)")
    ax.grid(alpha=0.3)
    _legend_outside(fig, axes)
    return to_svg(fig)


@styled
def performance_profile(profile: pd.DataFrame, optimizer_of: dict[str, str], palette: Palette,
                        cost_label: str) -> str:
    """ρ(τ) per configuration: the fraction of tasks solved within τ × the fastest configuration."""
    fig, axes = _figure(1, 1, 3.6)
    ax = axes[0, 0]
    seen: dict[str, int] = {}
    for config in profile.columns:
        optimizer = optimizer_of.get(config, "")
        seen[optimizer] = seen.get(optimizer, -1) + 1  # variants of one optimizer: same colour, new dash
        ax.step(profile.index, profile[config], where="post", color=palette.colour(optimizer),
                linestyle=LINESTYLES[seen[optimizer] % len(LINESTYLES)], label=config, lw=1.6)
    _log_axis(ax, "x", 2)
    ax.set_xlim(1, profile.index.max())
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"τ: within this factor of the fastest {cost_label}")
    ax.set_ylabel("fraction of tasks ρ(τ)")
    ax.grid(alpha=0.3)
    _legend_outside(fig, axes)
    return to_svg(fig)


@styled
def overhead(table: pd.DataFrame, palette: Palette) -> str | None:
    """Time per step relative to SGD on the same task and batch size, one bar per configuration."""
    if table.empty:
        return None
    fig, axes = _figure(1, 1, max(2.2, 0.28 * len(table) + 1.0))
    ax = axes[0, 0]
    labels = (table["task_label"] + " · " + table["config"]).tolist()
    ax.barh(range(len(table)), table["overhead"], color=[palette.colour(o) for o in table["optimizer"]])
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(table)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("time per step ÷ SGD's time per step (same task, batch size)")
    ax.grid(alpha=0.3, axis="x")
    return to_svg(fig)

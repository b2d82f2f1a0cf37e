"""The report's loss-landscape section: the stored ``landscape/`` documents of a task's trials, drawn.

Owns :func:`landscape_section` (what the page shows next to the diagnosis) and its figure: one per trial
(at most :data:`MAX_TRIALS` per task), with the lines along the λ_max and λ_min eigenvectors beside their
Taylor models, the init → final interpolation, the chosen plane and the trajectory's PCA plane. Every axis
is a distance in parameter space (the directions are orthonormal) and names its direction. It reads the
store only (``Store.read_landscapes``); the slices are computed by ``optbench.curvature.landscape``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from optbench.report.data import ReportData
from optbench.report.figures import styled, to_svg
from optbench.store import Store

MAX_TRIALS = 6  # figures per task: each is ~100 kB of SVG
PLANE_TITLES = {"random": "(b) plane of two filter-normalised random directions",
                "eigen": "(b) plane of the top two eigenvectors", "axes": "(b) plane of the coordinate axes",
                "pca": "(c) plane of the trajectory's first two principal components"}
CAPTION = ("Loss on the fixed evaluation batch (the diagnosis's examples), every axis a distance in parameter "
           "space. (a) Along the unit eigenvectors of λ_max and λ_min: measured (solid) and the second-order "
           "Taylor model f + (gᵀu) t + ½ λ t² (dashed); f''(0) is measured by central differences. (b) A plane "
           "through the weights (filter-normalised random directions follow Li et al. 2018, biases and "
           "batch-norm parameters left out). (c) The plane of the trajectory's first two principal components "
           "(from a replay of the training), the walk drawn on it, ending at ×. (d) From the initial to the "
           "final weights (Goodfellow et al. 2015): α = 0 is the initialisation, α = 1 the end. Contour "
           "levels are loss quantiles, darker is lower; × marks the weights sliced around.")


def _documents(data: ReportData) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(store label, trial id) → its landscape documents (final first), read once per report."""
    key = ("landscape documents",)
    if key not in data._cache:
        found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for label, results in data.stores:
            for name, document in sorted(Store(results.path).read_landscapes().items()):
                trial_id = str(document.get("trial_id") or name.split("-")[0])
                found.setdefault((label, trial_id), []).append(document)
        for documents in found.values():
            documents.sort(key=lambda d: d.get("point") != "final")
        data._cache[key] = found
    return data._cache[key]


def _line(ax: Any, line: dict[str, Any]) -> None:
    t = np.asarray(line["t"], float)
    ax.plot(t, line["loss"], color="#1f77b4", lw=1.6, label="measured")
    ax.plot(t, line["quadratic"], color="#d62728", lw=1.2, linestyle="--", label="Taylor model")
    lam, measured = line["eigenvalue"], line["curvature_at_0"]
    ax.set_title(f"(a) λ = {lam:.4g}, f''(0) = {measured:.4g}", fontsize=10)
    low, high = float(np.min(line["loss"])), float(np.max(line["loss"]))
    pad = 0.1 * max(high - low, 1e-12)
    ax.set_ylim(low - pad, high + pad)  # the Taylor model may leave the frame: the measured curve is the subject
    ax.set_xlabel(f"t along {'λ_max' if line['key'] == 'top' else 'λ_min'} eigenvector")
    ax.set_ylabel("loss")
    ax.legend(loc="upper center", frameon=False, fontsize=8)


def _interpolation(ax: Any, interp: dict[str, Any]) -> None:
    ax.plot(interp["alpha"], interp["loss"], color="#2ca02c", lw=1.6)
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.axvline(1.0, color="0.6", lw=0.8)
    ax.set_title(f"(d) init → final, ‖Δθ‖ = {interp['init_to_final']:.3g}", fontsize=10)
    ax.set_xlabel("α (distance / ‖Δθ‖)")
    ax.set_ylabel("loss")


def _plane(ax: Any, plane: dict[str, Any]) -> None:
    x, y = np.asarray(plane["x"], float), np.asarray(plane["y"], float)
    z = np.asarray(plane["loss"], float)
    finite = z[np.isfinite(z)]
    levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 21))) if finite.size else np.array([])
    gx, gy = np.meshgrid(x, y, indexing="xy")
    if levels.size >= 2:
        ax.contourf(gx, gy, z, levels=levels, cmap="viridis").set_rasterized(True)
        ax.contour(gx, gy, z, levels=levels, colors="white", linewidths=0.3)
    path = plane.get("trajectory")
    if path:
        ax.plot(path["x"], path["y"], color="#ff7f0e", lw=1.4, marker="o", ms=2.5)
    ax.plot([0.0], [0.0], color="black", marker="x", ms=8, mew=2, lw=0)
    title = PLANE_TITLES.get(plane["key"], plane["key"])
    ax.set_title(f"{title}\nloss {finite.min():.3g} … {finite.max():.3g}" if finite.size else title, fontsize=9)
    ax.set_xlabel(_short(plane["x_name"]))
    ax.set_ylabel(_short(plane["y_name"]))


def _short(name: str, limit: int = 38) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


@styled
def landscape_figure(document: dict[str, Any]) -> str:
    """One trial's slices: row 1 the two lines and the interpolation, row 2 the planes."""
    fig = Figure(figsize=(12.0, 7.6))
    axes = fig.subplots(2, 3, squeeze=False)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.93, bottom=0.08, wspace=0.32, hspace=0.55)
    for ax, line in zip(axes[0, :2], document["lines"], strict=False):
        _line(ax, line)
    if document.get("interpolation"):
        _interpolation(axes[0, 2], document["interpolation"])
    else:
        axes[0, 2].set_axis_off()
    planes = document.get("planes", [])
    for ax, plane in zip(axes[1], planes, strict=False):
        _plane(ax, plane)
    for ax in axes[1, len(planes):]:
        ax.set_axis_off()
    return to_svg(fig)


def _caption(trial: Any, document: dict[str, Any]) -> str:
    notes = " ".join(document.get("notes", []))
    return (f"{trial['config']} · seed {trial['seed']} · around the {document.get('point', 'final')} weights · "
            f"{document.get('params')} parameters, {document.get('examples')} examples. {notes}")


def landscape_section(data: ReportData, task_label: str) -> dict[str, Any] | None:
    """The task's landscape figures (one per trial with a stored document), or None when it has none."""
    documents = _documents(data)
    trials = data.task_trials(task_label).sort_values(["config", "seed"])
    shown, more, failed = [], 0, []
    for _, trial in trials.iterrows():
        # the report's trial ids carry their store's label ("store/id"); the documents' do not
        found = documents.get((str(trial["store"]), str(trial["trial_id"]).rpartition("/")[2]))
        if found and "error" in found[0]:
            failed.append(f"{trial['config']} · seed {trial['seed']}: {found[0]['error']}")
        if not found or "lines" not in found[0]:
            continue
        if len(shown) == MAX_TRIALS:
            more += 1
            continue
        shown.append({"svg": landscape_figure(found[0]), "caption": _caption(trial, found[0])})
    if not shown and not failed:
        return None
    note = CAPTION + (f" {more} more trial(s) have landscapes: `optbench landscape STORE TRIAL --json`." if more
                      else "") + "".join(f" Not sliced: {text}." for text in failed)
    return {"figures": shown, "note": note}

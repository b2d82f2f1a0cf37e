"""Synthetic stores in the runner's CONTRACT.md layout, with outcomes known by construction.

Written through :class:`optbench.store.Store` (trials/ and metrics/ parquet, tasks/<key>.json, the
manifest), so the report reads them exactly as it reads a real store. Used by the report tests and by
``benchmarks/report_*.py`` screenshots.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optbench.store import Store

DIAGNOSTIC_ROWS = {"hess_lambda_min": -2.0, "hess_lambda_max": 2.0, "hess_trace": 0.0, "diag_grad_norm": 1e-9,
                   "diag_loss": 0.0, "eps_sharpness": 0.5}


def metric(name: str, direction: str, label: str, unit: str = "", kind: str = "eval") -> dict[str, str]:
    return {"name": name, "direction": direction, "label": label, "unit": unit, "kind": kind}


TRAIN_LOSS = metric("train_loss", "min", "training loss (minibatch)", kind="step")


def task_info(task: str, label: str, metrics: list[dict[str, str]], headline: str,
              target: tuple[str, float, str] | None, **extra: Any) -> dict[str, Any]:
    directions = {m["name"]: m["direction"] for m in metrics}
    return {"task": task, "task_label": label, "task_params": extra.pop("task_params", {}),
            "data_source": extra.pop("data_source", "built-in synthetic"), "n_train": extra.pop("n_train", 1024),
            "metrics": metrics, "headline": headline,
            "target": None if target is None else {"metric": target[0], "value": target[1], "description": target[2],
                                                   "direction": directions[target[0]]},
            "divergence_factor": 10.0, "surface": extra.pop("surface", None),
            "critical_points": extra.pop("critical_points", []), "facts": extra.pop("facts", {})}


class StudyBuilder:
    """Accumulates trials of one store; ``add`` takes each metric's curve as (steps, values)."""

    def __init__(self, path: Path):
        self.store = Store(path).create()
        self.infos: dict[str, dict[str, Any]] = {}

    def task(self, key: str, info: dict[str, Any]) -> str:
        self.infos[key] = info
        self.store.write_task_info(key, info)
        return key

    def add(self, key: str, optimizer: str, seed: int, curves: dict[str, tuple[Any, Any]], *, lr: float = 0.1,
            params: dict[str, Any] | None = None, status: str = "completed", diverged_step: int | None = None,
            reason: str | None = None, error: str | None = None, batch_size: int = 32,
            time_per_step: float = 1e-3, schedule: str = "constant", diagnostics: dict[str, float] | None = None,
            label: str | None = None) -> str:
        info = self.infos[key]
        params = {"lr": lr, **(params or {})}
        opt_label = label or f"{optimizer}[" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                                        for k, v in params.items()) + "]"
        trial_id = hashlib.sha1(f"{key}|{opt_label}|{seed}|{batch_size}|{schedule}".encode()).hexdigest()[:16]
        frames = []
        for name, (steps, values) in curves.items():
            steps = np.asarray(steps, dtype=int)
            frames.append(pd.DataFrame({"step": steps, "epoch": steps * batch_size / info["n_train"],
                                        "examples": steps * batch_size, "time": steps * time_per_step,
                                        "metric": name, "value": np.asarray(values, dtype=float)}))
        last_step = int(max(f["step"].max() for f in frames))
        for name, value in (diagnostics or {}).items():
            frames.append(pd.DataFrame({"step": [last_step], "epoch": [last_step * batch_size / info["n_train"]],
                                        "examples": [last_step * batch_size], "time": [last_step * time_per_step],
                                        "metric": [name], "value": [value]}))
        metrics = pd.concat(frames, ignore_index=True)
        metrics.insert(0, "trial_id", trial_id)
        row = self._row(info, key, trial_id, optimizer, opt_label, params, seed, status, batch_size, schedule,
                        last_step, time_per_step, curves)
        row.update(diverged_step=diverged_step, diverged_reason=reason, error=error)
        self.store.write_trial(row, metrics)
        return trial_id

    def _row(self, info: dict[str, Any], key: str, trial_id: str, optimizer: str, opt_label: str,
             params: dict[str, Any], seed: int, status: str, batch_size: int, schedule: str, last_step: int,
             time_per_step: float, curves: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
        directions = {m["name"]: m["direction"] for m in info["metrics"]}
        target = info["target"] or {}
        row: dict[str, Any] = {
            "trial_id": trial_id, "task": info["task"], "task_label": info["task_label"], "task_key": key,
            "task_params": json.dumps(info["task_params"]), "optimizer": optimizer, "optimizer_label": opt_label,
            "optimizer_params": json.dumps(params, sort_keys=True), "lr": params["lr"], "schedule": schedule,
            "schedule_label": schedule, "schedule_params": "{}", "batch_size": str(batch_size),
            "batch_size_value": batch_size, "seed": seed, "status": status, "steps": last_step,
            "epochs": last_step * batch_size / info["n_train"], "train_time": last_step * time_per_step,
            "eval_time": 0.01, "wall_time": last_step * time_per_step + 0.01,
            "steps_per_second": 1 / time_per_step, "threads": 1, "device": "cpu", "load_avg_start": 0.5,
            "code_version": "optbench 0.test", "headline_metric": info["headline"],
            "headline_direction": directions[info["headline"]], "target_metric": target.get("metric"),
            "target_value": target.get("value", math.nan), "target_description": target.get("description")}
        for name, (_steps, values) in curves.items():
            values = np.asarray(values, dtype=float)
            finite = values[np.isfinite(values)]
            pick = np.max if directions.get(name) == "max" else np.min
            row[f"final_{name}"] = float(values[-1]) if status == "completed" else math.nan
            row[f"best_{name}"] = float(pick(finite)) if status == "completed" and finite.size else math.nan
        row.update(self._to_target(target, curves, time_per_step, batch_size, status))
        if "val_loss" in curves and status == "completed":
            row["final_subset_train_loss"] = row["final_train_loss"] * 0.9
            row["generalization_gap"] = row["final_val_loss"] - row["final_subset_train_loss"]
        return row

    @staticmethod
    def _to_target(target: dict[str, Any], curves: dict[str, tuple[Any, Any]], time_per_step: float,
                   batch_size: int, status: str) -> dict[str, float]:
        if not target or target["metric"] not in curves or status != "completed":
            return {"steps_to_target": math.nan, "time_to_target": math.nan, "examples_to_target": math.nan}
        steps, values = (np.asarray(a, dtype=float) for a in curves[target["metric"]])
        hit = values >= target["value"] if target["direction"] == "max" else values <= target["value"]
        if not hit.any():
            return {"steps_to_target": math.nan, "time_to_target": math.nan, "examples_to_target": math.nan}
        step = float(steps[np.flatnonzero(hit)[0]])
        return {"steps_to_target": step, "time_to_target": step * time_per_step,
                "examples_to_target": step * batch_size}

    def manifest(self, runs: int = 1, **config: Any) -> None:
        for _ in range(runs):
            self.store.update_manifest({"tasks": sorted({i["task_label"] for i in self.infos.values()}),
                                        "seeds": config.pop("seeds", [0, 1, 2]), "threads": 1,
                                        "threads_reason": "pinned by the test", **config})


def score_store(path: Path, seeds: int = 3) -> Path:
    """A plugin task with a max-direction metric ``score``: ``good`` reaches 0.9, ``lossy`` has the lower
    training loss but only 0.7 (a name- or loss-based ranking picks the wrong one), ``blowup`` diverges."""
    study = StudyBuilder(path)
    key = study.task("scoretask-abc", task_info("scoretask", "scoretask", [
        TRAIN_LOSS, metric("score", "max", "score", "points")], "score", ("score", 0.8, "score ≥ 0.8")))
    steps = np.arange(0, 101)
    evals = np.arange(0, 101, 10)
    rng = np.random.default_rng(1)
    for seed in range(seeds):
        noise = rng.normal(0, 0.005)
        study.add(key, "good", seed, {"train_loss": (steps, 1.0 * np.exp(-steps / 40) + 0.3 + noise),
                                      "score": (evals, 0.9 * (1 - np.exp(-evals / 25)) + noise)}, lr=0.1)
        study.add(key, "lossy", seed, {"train_loss": (steps, 1.0 * np.exp(-steps / 20) + 0.05 + noise),
                                       "score": (evals, 0.7 * (1 - np.exp(-evals / 25)) + noise)}, lr=0.1)
        blow = np.arange(0, 8)
        study.add(key, "blowup", seed, {"train_loss": (blow, 1.0 * 10.0 ** (blow * 4.0)),
                                        "score": (np.array([0]), np.array([0.0]))}, lr=10.0, status="diverged",
                  diverged_step=7, reason="smoothed loss 1e28 above bound 11 (start 1, factor 10) at step 7")
    study.manifest(seeds=list(range(seeds)))
    return study.store.path


def phoneme_store(path: Path, seeds: int = 3) -> Path:
    """A phoneme-like study: val_acc headline (max) with a declared target, evaluations every 20 steps,
    two batch sizes, adam ahead of rmsprop beyond seed noise, sgd slow, and one adam lr that diverges."""
    study = StudyBuilder(path)
    key = study.task("phoneme-1", task_info(
        "phoneme", "phoneme[preset=tiny]", [TRAIN_LOSS, metric("val_loss", "min", "validation loss", "nats"),
                                            metric("val_acc", "max", "validation accuracy", "fraction")],
        "val_acc", ("val_acc", 0.45, "val_acc ≥ 0.45 (what tuned adam reaches in the default budget)"),
        task_params={"preset": "tiny", "concat": 5}, data_source="built-in synthetic corpus v1 (seed 0)",
        n_train=4096))
    rng = np.random.default_rng(3)
    for batch, steps in ((64, 400), (256, 100)):
        grid, evals = np.arange(steps + 1), np.arange(0, steps + 1, max(steps // 20, 1))
        for seed in range(seeds):
            for optimizer, rate, top, params in (("adam", 60, 0.52, {"betas": (0.9, 0.999), "eps": 1e-8}),
                                                 ("rmsprop", 70, 0.48, {"alpha": 0.99, "eps": 1e-8}),
                                                 ("sgd", 250, 0.40, {"momentum": 0.0})):
                noise = rng.normal(0, 0.004)
                scale = steps / 400
                loss = 3.7 * np.exp(-grid / (rate * scale)) + 1.6 + rng.normal(0, 0.03, grid.size)
                study.add(key, optimizer, seed, {
                    "train_loss": (grid, loss),
                    "val_loss": (evals, 3.7 * np.exp(-evals / (rate * scale)) + 1.7 + noise),
                    "val_acc": (evals, top * (1 - np.exp(-evals / (rate * scale))) + noise)},
                    lr=1e-3, params=params, batch_size=batch, time_per_step=0.012 * batch / 64 * (1 + 0.1 * seed))
            blow = np.arange(0, 4)
            study.add(key, "adam", seed, {"train_loss": (blow, 3.7 * 10.0 ** (blow * 10)),
                                          "val_acc": (np.array([0]), np.array([0.02]))},
                      lr=1e6, params={"betas": (0.9, 0.999), "eps": 1e-8}, batch_size=batch, status="diverged",
                      diverged_step=1, reason="loss 1.9e31 above bound 40.7 (start 3.7, factor 10) at step 1")
    study.manifest(runs=3, seeds=list(range(seeds)), batch_sizes=[64, 256])
    return study.store.path


def kappa_store(path: Path, kappas: tuple[float, ...] = (10.0, 100.0, 1000.0), seeds: int = 2) -> Path:
    """Quadratics with condition numbers κ: GD contracts ‖θ−θ*‖ by (κ−1)/(κ+1) a step, heavy ball by
    (√κ−1)/(√κ+1), so steps to 1e-3 grow ×10 (GD) and ×√10 (heavy ball) per decade of κ."""
    study = StudyBuilder(path)
    for kappa in kappas:
        key = study.task(f"quadratic-k{int(kappa)}", task_info(
            "quadratic", f"quadratic[kappa={kappa:g}]",
            [TRAIN_LOSS, metric("dist_ratio", "min", "‖θ−θ*‖/‖θ₀−θ*‖", kind="step")], "dist_ratio",
            ("dist_ratio", 1e-3, "‖θ−θ*‖/‖θ₀−θ*‖ ≤ 1e-3"), task_params={"kappa": kappa, "noise": 0.0},
            facts={"kappa": kappa, "mu": 1.0, "L": kappa}))
        steps = int(4 * kappa + 50)
        grid = np.arange(steps + 1)
        for seed in range(seeds):
            for optimizer, rate, params in (("gd", (kappa - 1) / (kappa + 1), {"momentum": 0.0}),
                                            ("heavyball", (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1),
                                             {"momentum": ((math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)) ** 2})):
                ratio = rate ** grid
                study.add(key, optimizer, seed, {"train_loss": (grid, 0.5 * kappa * ratio ** 2),
                                                 "dist_ratio": (grid, ratio)}, lr=2 / (1 + kappa), params=params)
    study.manifest(seeds=list(range(seeds)))
    return study.store.path


def saddle_store(path: Path, seeds: int = 1) -> Path:
    """f(x, y) = x² − y² on a stored grid with its saddle at the origin; GD from (1, 0) converges to the
    saddle (zero gradient, λ_min = −2: diagnosed a saddle), GD from (1, 0.01) escapes along y."""
    study = StudyBuilder(path)
    xs = np.linspace(-2, 2, 41)
    surface = {"box": [-2.0, 2.0, -2.0, 2.0], "x": xs.tolist(), "y": xs.tolist(),
               "z": (xs[None, :] ** 2 - xs[:, None] ** 2).tolist()}
    key = study.task("saddle-1", task_info(
        "saddle", "saddle", [TRAIN_LOSS, metric("dist_to_min", "min", "distance to the nearest minimum", kind="step")],
        "train_loss", ("train_loss", -1.0, "loss ≤ −1 (escaped the saddle)"), surface=surface,
        critical_points=[{"x": 0.0, "y": 0.0, "kind": "saddle"}]))
    grid = np.arange(0, 61)
    for seed in range(seeds):
        for name, y0 in (("gd-on-axis", 0.0), ("gd-off-axis", 0.01)):
            x = 1.0 * 0.9 ** grid
            y = np.clip(y0 * 1.1 ** grid, -2, 2)
            trial = study.add(key, "sgd", seed, {"train_loss": (grid, x ** 2 - y ** 2), "x": (grid, x), "y": (grid, y)},
                              lr=0.05, label=f"sgd[lr=0.05,start={name}]",
                              diagnostics=DIAGNOSTIC_ROWS if y0 == 0 else None)
            if y0 == 0:
                study.store.write_json(f"diagnosis/{trial}.json", {
                    "verdict": "saddle", "lambda_min": -2.0, "lambda_max": 2.0, "trace": 0.0,
                    "eigenvalues": [-2.0, 2.0], "escape": {"step": 0.1, "loss_before": 0.0, "loss_after": -0.01},
                    "eps_sharpness": 0.5})
    study.manifest(seeds=list(range(seeds)))
    return study.store.path

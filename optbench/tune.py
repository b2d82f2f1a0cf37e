"""The tuning protocol: the same learning-rate search budget for every optimizer, then seeds for the winner.

For each (task, optimizer) the protocol

1. samples ``budget`` learning rates over the entry's ``lr_range`` on a log scale -- a log grid, or
   quasi-random Sobol (``torch.quasirandom``) or Halton (``scipy.stats.qmc``) points -- and trains each
   with the search seed;
2. scores each trial by a stated validation metric, its ``final`` or ``best`` value (diverged and
   failed trials score worst), and picks the best learning rate;
3. re-runs the chosen setting with ``seeds`` fresh seeds (distinct from the search seed, so the reported
   numbers are not the ones the selection was made on).

Every trial of both phases goes to one store; the chosen settings and the protocol are written to
``tune.json`` in that store (atomically). Seed statistics come from :mod:`optbench.stats`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from optbench.errors import OptbenchError, SpecError
from optbench.plan import TaskCache
from optbench.registry import Registry, load_registry
from optbench.spec import Spec, canonical_json, parse_list
from optbench.stats import compare_to_best, higher_is_better
from optbench.store import Store, _atomic_write_bytes
from optbench.study import execute, prepare

SAMPLERS = ("grid", "sobol", "halton")

SELECTIONS = ("final", "best")


@dataclass(frozen=True)
class Protocol:
    """What makes a tuning run fair and reproducible; recorded verbatim in ``tune.json``."""

    budget: int = 8
    sampler: str = "grid"
    metric: str = "auto"
    select: str = "final"
    seeds: int = 3
    search_seed: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise SpecError(f"--budget must be >= 1, got {self.budget}")
        if self.sampler not in SAMPLERS:
            raise SpecError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.select not in SELECTIONS:
            raise SpecError(f"--select must be final or best, got {self.select!r}")
        if self.seeds < 1:
            raise SpecError(f"--seeds must be >= 1, got {self.seeds}")


def unit_samples(budget: int, sampler: str, seed: int = 0) -> np.ndarray:
    """``budget`` points in [0, 1]: evenly spaced (grid) or a scrambled quasi-random sequence."""
    if sampler == "grid":
        return np.linspace(0.0, 1.0, budget) if budget > 1 else np.array([0.5])
    if sampler == "sobol":
        engine = torch.quasirandom.SobolEngine(1, scramble=True, seed=seed)
        return engine.draw(budget, dtype=torch.float64).numpy()[:, 0]
    try:
        from scipy.stats import qmc
    except ImportError:
        raise OptbenchError("--sampler halton needs scipy (pip install scipy), or use sobol") from None
    return qmc.Halton(d=1, scramble=True, seed=seed).random(budget)[:, 0]


def learning_rates(lr_range: tuple[float, float], budget: int, sampler: str, seed: int = 0) -> list[float]:
    """Learning rates over ``lr_range`` on a log scale, rounded to 4 significant digits (readable labels)."""
    low, high = math.log10(lr_range[0]), math.log10(lr_range[1])
    return sorted(float(f"{10 ** (low + u * (high - low)):.4g}") for u in unit_samples(budget, sampler, seed))


def resolve_metric(metric: str, task_name: str, task_params: dict[str, Any], registry: Registry) -> str:
    """The evaluation metric to select by; ``auto`` = the task's checkpoint metric, else ``full_loss``/``val_loss``."""
    task = TaskCache(registry).get(task_name, task_params)
    with torch.no_grad():
        available = list(task.evaluate(task.init_model(0)))
    if metric == "auto":
        for candidate in (task.checkpoint_metric, "val_loss", "full_loss"):
            if candidate in available:
                return str(candidate)
        return "train_loss"
    if metric != "train_loss" and metric not in available:
        raise SpecError(f"--metric {metric!r}: task {task_name!r} evaluates "
                        f"{', '.join(available) or 'nothing'} (or use train_loss)")
    return metric


def score_column(metric: str, select: str) -> str:
    return f"{select}_{metric}"


def _score(trials: pd.DataFrame, column: str, maximize: bool) -> pd.Series:
    """The selection score; missing, non-finite or non-completed trials score worst."""
    values = pd.to_numeric(trials[column], errors="coerce") if column in trials else pd.Series(np.nan, trials.index)
    worst = -math.inf if maximize else math.inf
    ok = (trials["status"] == "completed") & np.isfinite(values)
    return values.where(ok, worst)


def tune(
    tasks: str,
    optims: str | None = None,
    protocol: Protocol | None = None,
    schedules: str = "constant",
    batch_sizes: str | None = None,
    steps: int | None = None,
    epochs: float | None = None,
    seconds: float | None = None,
    eval_every: int | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    registry: Registry | None = None,
    run_study: Any = None,
) -> dict[str, Any]:
    """Run the protocol; returns the ``tune.json`` content. ``run_study(study)`` runs a phase (default: execute)."""
    protocol = protocol or Protocol()
    registry = registry or load_registry()
    run_study = run_study or execute
    if optims is None:
        optims = ",".join(e.name for e in registry.list("optimizer") if e.lr_range is not None)
    subjects = parse_list(optims)
    search: list[Spec] = []
    for spec in subjects:
        entry = registry.get("optimizer", spec.name)
        if "lr" in spec.params:
            raise SpecError(f"optimizer {spec.label!r}: lr is what tune searches; drop lr= (other values are "
                            "held fixed)")
        if entry.lr_range is None:
            raise SpecError(f"optimizer {entry.name!r} ({entry.source}) declares no lr_range to search")
        for lr in learning_rates(entry.lr_range, protocol.budget, protocol.sampler, protocol.search_seed):
            search.append(Spec(spec.name, {**spec.params, "lr": lr}))
    common = {"schedules": schedules, "batch_sizes": batch_sizes, "steps": steps, "epochs": epochs,
              "seconds": seconds, "eval_every": eval_every, "device": device, "registry": registry}
    study = prepare(tasks, search, seeds=[protocol.search_seed], out=out, **common)
    for config in {c.task_label: c for c in study.configs}.values():  # a bad --metric fails before training
        resolve_metric(protocol.metric, config.task, config.task_params, registry)
    run_study(study)
    search_trials = study.trials()
    store = study.store

    chosen_specs: list[Spec] = []
    choices: list[dict[str, Any]] = []
    final_seeds = [protocol.search_seed + 1 + i for i in range(protocol.seeds)]
    by_key = {c.trial_id: c for c in study.configs}
    for task_label, task_trials in search_trials.groupby("task_label", sort=False):
        config = by_key[task_trials["trial_id"].iloc[0]]
        metric = resolve_metric(protocol.metric, config.task, config.task_params, registry)
        column, maximize = score_column(metric, protocol.select), higher_is_better(metric)
        scored = task_trials.assign(score=_score(task_trials, column, maximize))
        for spec in subjects:
            fixed = canonical_json({**registry.get("optimizer", spec.name).defaults, **spec.params})
            rows = scored[scored["optimizer"] == registry.get("optimizer", spec.name).name]
            rows = rows[[canonical_json({k: v for k, v in json.loads(p).items() if k != "lr"}) ==
                         canonical_json({k: v for k, v in json.loads(fixed).items() if k != "lr"})
                         for p in rows["optimizer_params"]]]
            best = rows.sort_values(["score", "lr"], ascending=[not maximize, True]).iloc[0]
            chosen = Spec(spec.name, {**spec.params, "lr": float(best["lr"])})
            chosen_specs.append(chosen)
            choices.append({"task": task_label, "optimizer": spec.label, "chosen": chosen.label,
                            "lr": float(best["lr"]), "metric": metric, "score_column": column,
                            "search_score": float(best["score"]), "search_trials": rows["trial_id"].tolist(),
                            "_task": config.task, "_task_params": config.task_params})

    finals: list[str] = []
    for choice, chosen in zip(choices, chosen_specs, strict=True):
        final = prepare(Spec(choice["_task"], choice["_task_params"]), [chosen], seeds=final_seeds,
                        out=store.path, **common)
        run_study(final)
        ids = [c.trial_id for c in final.configs]
        choice["final_trials"] = ids
        finals.extend(ids)
        del choice["_task"], choice["_task_params"]
    result = {"protocol": asdict(protocol), "final_seeds": final_seeds, "store": str(store.path),
              "choices": choices, "significance": significance(store, choices)}
    payload = json.dumps(result, indent=2, default=str).encode()
    _atomic_write_bytes(store.path / "tune.json", lambda handle: handle.write(payload))
    return result


def significance(store: Store, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: median over the final seeds per optimizer, the winner and who is within seed noise of it."""
    trials = store.read_trials()
    out: list[dict[str, Any]] = []
    for task in dict.fromkeys(c["task"] for c in choices):
        rows = []
        for choice in (c for c in choices if c["task"] == task):
            part = trials[trials["trial_id"].isin(choice["final_trials"])].copy()
            maximize = higher_is_better(choice["metric"])
            part["score"] = _score(part, choice["score_column"], maximize)
            part["subject"] = choice["optimizer"]
            rows.append(part)
        frame = pd.concat(rows, ignore_index=True)
        table = compare_to_best(frame, "subject", "score", maximize=maximize)
        for record in table.to_dict("records"):
            out.append({"task": task, **{k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}})
    return out


def load_tuning(path: str | Path) -> dict[str, Any]:
    """Read ``tune.json`` from a store folder."""
    file = Path(path) / "tune.json"
    if not file.is_file():
        raise OptbenchError(f"no tune.json in {path} (run `optbench tune --out {path}` first)")
    return json.loads(file.read_text())


def sensitivity(trials: pd.DataFrame, tuning: dict[str, Any]) -> pd.DataFrame:
    """One row per search trial: task, optimizer, lr, score, status and whether it was chosen (for plots)."""
    rows = []
    for choice in tuning["choices"]:
        part = trials[trials["trial_id"].isin(choice["search_trials"])]
        score = _score(part, choice["score_column"], higher_is_better(choice["metric"]))
        rows.append(pd.DataFrame({"task": choice["task"], "optimizer": choice["optimizer"], "lr": part["lr"],
                                  "score": score, "status": part["status"], "metric": choice["score_column"],
                                  "chosen": part["lr"] == choice["lr"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


__all__ = ["Protocol", "learning_rates", "load_tuning", "sensitivity", "significance", "tune"]

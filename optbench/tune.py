"""The tuning protocol: the same search budget for every optimizer over its declared search space, then
fresh seeds for the winner.

For each task and optimizer the protocol

1. samples ``budget`` points of the entry's search space (:attr:`optbench.entries.Entry.search_space`:
   lr and, where declared, momentum / β₁ / β₂ / weight decay, each a log or linear
   :class:`~optbench.entries.Range`; values the user fixes in the spec are held fixed and not searched):
   a grid over the product (``k`` values per axis with ``k**d <= budget``, the rest of the budget as
   scrambled Sobol points), or scrambled Sobol (``torch.quasirandom``) or Halton (``scipy.stats.qmc``)
   points in ``d`` dimensions; each point trains with the search seed;
2. scores each trial by the task's declared metric (its headline unless ``metric`` names another
   declared one), its ``final`` or ``best`` value, better by the metric's declared direction (trials
   that did not complete score worst), and picks the best point;
3. when the chosen value of a hyperparameter is the lowest or highest value tried along its axis, says
   so and (unless ``extend`` is off) extends that range past the edge by one decade (log) or one width
   (linear), within the range's limits, and searches the new part along that axis with the other values
   held at the chosen ones: as many evenly spaced points as the axis had in the first round. Extra
   trials are counted per optimizer (``extra_trials``, ``trials_used``), at most ``max_extensions``
   rounds;
4. re-runs the chosen setting with ``seeds`` fresh seeds (distinct from the search seed, so the reported
   numbers are not the ones the selection was made on).

Every trial goes to one store; the protocol, the search spaces, every edge and extension, and the chosen
settings are written to ``tune.json`` (:func:`write_tuning`). Seed statistics come from :mod:`optbench.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from optbench.entries import Entry, Range
from optbench.errors import OptbenchError, SpecError
from optbench.plan import TaskCache
from optbench.registry import Registry, load_registry
from optbench.spec import Spec, parse_list
from optbench.stats import compare_to_best
from optbench.store import Store
from optbench.study import execute, prepare
from optbench.tasks.base import Metric, Task

SAMPLERS = ("grid", "sobol", "halton")

SELECTIONS = ("final", "best")


# -- the runner seam: tune reaches the runner only through these three functions ---------------------

def _plan(task: Spec, optimizers: list[Spec], seeds: list[int], out: str | Path | None,
          settings: dict[str, Any]) -> Any:
    """A planned study (bound to its store) of ``task`` × ``optimizers`` × ``seeds``."""
    return prepare(task, optimizers, seeds=seeds, out=out, **settings)


def _run(study: Any) -> None:
    execute(study)


def _task(registry: Registry, name: str, params: dict[str, Any]) -> Task:
    return TaskCache(registry).get(name, params)


def write_tuning(store: Store, result: dict[str, Any]) -> None:
    """Record the tuning outcome as ``tune.json`` in the store (atomically)."""
    store.write_tuning(result)


# -- the protocol -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Protocol:
    """What makes a tuning run fair and reproducible; recorded verbatim in ``tune.json``."""

    budget: int = 8
    sampler: str = "grid"
    metric: str = "auto"
    select: str = "final"
    seeds: int = 3
    search_seed: int = 0
    extend: bool = True
    max_extensions: int = 2

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise SpecError(f"the search budget must be >= 1, got {self.budget}")
        if self.sampler not in SAMPLERS:
            raise SpecError(f"the sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.select not in SELECTIONS:
            raise SpecError(f"select must be final or best, got {self.select!r}")
        if self.seeds < 1:
            raise SpecError(f"the number of fresh seeds must be >= 1, got {self.seeds}")
        if self.max_extensions < 0:
            raise SpecError(f"max_extensions must be >= 0, got {self.max_extensions}")


def _quasi_random(d: int, n: int, sampler: str, seed: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, d))
    if sampler != "halton":
        return torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(n, dtype=torch.float64).numpy()
    try:
        from scipy.stats import qmc
    except ImportError:
        raise OptbenchError("the halton sampler needs scipy (pip install scipy), or use sobol") from None
    return qmc.Halton(d=d, scramble=True, seed=seed).random(n)


def unit_points(d: int, budget: int, sampler: str, seed: int = 0) -> np.ndarray:
    """``budget`` points in [0, 1]^d: a product grid (topped up with Sobol points) or quasi-random ones."""
    if sampler != "grid":
        return _quasi_random(d, budget, sampler, seed)
    k = int(math.floor(budget ** (1 / d) + 1e-9))
    if k < 2:
        return np.vstack([np.full((1, d), 0.5), _quasi_random(d, budget - 1, "sobol", seed)])
    axis = np.linspace(0.0, 1.0, k)
    grid = np.array(np.meshgrid(*[axis] * d, indexing="ij")).reshape(d, -1).T
    return np.vstack([grid, _quasi_random(d, budget - len(grid), "sobol", seed)])


def _readable(value: float) -> float:
    return float(f"{value:.4g}")  # 4 significant digits: labels stay readable


def sample_space(space: dict[str, Range], budget: int, sampler: str, seed: int = 0) -> list[dict[str, float]]:
    """``budget`` points of ``space`` (one value per hyperparameter), rounded to 4 significant digits."""
    names = list(space)
    return [{name: _readable(space[name].at(u[i])) for i, name in enumerate(names)}
            for u in unit_points(len(names), budget, sampler, seed)]


def learning_rates(lr_range: tuple[float, float], budget: int, sampler: str, seed: int = 0) -> list[float]:
    """Learning rates over ``lr_range`` on a log scale (the one-dimensional case of :func:`sample_space`)."""
    return sorted(p["lr"] for p in sample_space({"lr": Range(*lr_range)}, budget, sampler, seed))


def assign(entry: Entry, fixed: dict[str, Any], point: dict[str, float]) -> dict[str, Any]:
    """Hyperparameters for one search point: ``fixed`` plus the point, whose ``name.i`` keys set item i
    of a tuple hyperparameter (e.g. ``betas.0`` is β₁)."""
    params = dict(fixed)
    for key, value in point.items():
        name, dot, index = key.partition(".")
        if not dot:
            params[name] = value
            continue
        items = list(params.get(name, entry.resolved(fixed).get(name, ())))
        if not index.isdigit() or int(index) >= len(items):
            raise SpecError(f"optimizer {entry.name!r}: search space key {key!r} names no item of {name!r}")
        items[int(index)] = value
        params[name] = tuple(items)
    return params


def selection_metric(task: Task, requested: str, label: str) -> Metric:
    """The declared metric to select by: the task's headline for ``auto``; never guessed from a name."""
    declared = task.declared_metrics()
    name = task.headline if requested == "auto" else requested
    if name not in declared:
        raise SpecError(f"metric {name!r}: task {label!r} declares {', '.join(declared)}")
    return declared[name]


def _score(trials: pd.DataFrame, column: str, maximize: bool) -> pd.Series:
    """The selection score; missing, non-finite or non-completed trials score worst."""
    values = pd.to_numeric(trials[column], errors="coerce") if column in trials else pd.Series(np.nan, trials.index)
    worst = -math.inf if maximize else math.inf
    ok = (trials["status"] == "completed") & np.isfinite(values)
    return values.where(ok, worst)


# -- one optimizer's search on one task ---------------------------------------------------------------

@dataclass
class Search:
    """One optimizer's search on one task: its space, the points tried (by spec label) and the outcome."""

    subject: Spec
    entry: Entry
    fixed: dict[str, Any]
    space: dict[str, Range]
    budget: int
    points: dict[str, dict[str, float]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    extra_trials: int = 0
    rounds: int = 0
    best: dict[str, Any] | None = None
    axis_counts: dict[str, int] = field(default_factory=dict)

    def first_round(self, sampler: str, seed: int) -> list[Spec]:
        points = sample_space(self.space, self.budget, sampler, seed)
        self.axis_counts = {name: len({p[name] for p in points}) for name in self.space}
        return self.specs(points)

    def specs(self, points: list[dict[str, float]]) -> list[Spec]:
        """Specs for ``points``, remembered so their trials can be found again by label."""
        specs = [Spec(self.entry.name, assign(self.entry, self.fixed, p)) for p in points]
        self.points.update({s.label: p for s, p in zip(specs, points, strict=True)})
        return specs

    def pick(self, trials: pd.DataFrame, column: str, maximize: bool) -> None:
        """The best search trial so far (ties: the smallest values, so a flat score picks the cautious end)."""
        rows = trials[trials["optimizer_label"].isin(list(self.points))].copy()
        if rows.empty:
            raise OptbenchError(f"no search trials of {self.subject.label!r} in the store")
        rows["score"] = _score(rows, column, maximize)
        rows["_point"] = [tuple(self.points[label].values()) for label in rows["optimizer_label"]]
        best = rows.sort_values(["score", "_point"], ascending=[not maximize, True]).iloc[0]
        self.best = {"label": best["optimizer_label"], "point": self.points[best["optimizer_label"]],
                     "score": float(best["score"]), "trial_ids": rows["trial_id"].tolist()}

    def on_edges(self) -> list[tuple[str, str]]:
        """(hyperparameter, "low"|"high") for every chosen value that is the extreme tried on its axis."""
        assert self.best is not None
        out = []
        for name, value in self.best["point"].items():
            tried = {p[name] for p in self.points.values()}
            if len(tried) > 1 and value in (min(tried), max(tried)):
                out.append((name, "high" if value == max(tried) else "low"))
        return out

    def extension(self, name: str, side: str, extend: bool, max_rounds: int) -> list[dict[str, float]]:
        """Record the edge; return the points searching the extended part (none if not extended)."""
        assert self.best is not None
        old = self.space[name]
        grown = old.extended(side) if extend and self.rounds < max_rounds else None  # type: ignore[arg-type]
        why = ("not extended: extension is off" if not extend else
               f"not extended: {max_rounds} extension round(s) used" if self.rounds >= max_rounds else
               "not extended: the range already reaches its limit" if grown is None else "")
        note = {"hyperparameter": name, "side": side, "value": self.best["point"][name],
                "range": [old.low, old.high], "round": self.rounds}
        if grown is None:
            if not any(e["hyperparameter"] == name and e["side"] == side and e["value"] == note["value"]
                       for e in self.edges):  # a later round may see the same edge again
                self.edges.append({**note, "extended": False, "action": why})
            return []
        n = max(2, min(self.budget, self.axis_counts.get(name, self.budget)))
        part = Range(old.high, grown.high, old.scale) if side == "high" else Range(grown.low, old.low, old.scale)
        us = [i / n for i in range(1, n + 1)] if side == "high" else [1 - i / n for i in range(1, n + 1)]
        points = [{**self.best["point"], name: _readable(part.at(u))} for u in us]
        self.space[name] = grown
        self.edges.append({**note, "extended": True, "to": [grown.low, grown.high], "trials": n,
                           "action": f"extended to [{grown.low:g}, {grown.high:g}] (+{n} trials)"})
        return points


def _searches(registry: Registry, optims: str | None, budget: int) -> list[Search]:
    """One search per distinct optimizer spec; values the user fixes are held fixed and not searched."""
    if optims is None:
        optims = ",".join(e.name for e in registry.list("optimizer") if e.search_space)
    searches: dict[str, Search] = {}
    for spec in parse_list(optims):
        entry = registry.get("optimizer", spec.name)
        if "lr" in spec.params:
            raise SpecError(f"optimizer {spec.label!r}: lr is what tune searches; drop lr= (other values are "
                            "held fixed)")
        if "lr" not in entry.search_space:
            raise SpecError(f"optimizer {entry.name!r} ({entry.source}) declares no search space with lr")
        space = {k: r for k, r in entry.search_space.items() if k.partition(".")[0] not in spec.params}
        subject = Spec(entry.name, dict(spec.params))
        searches.setdefault(subject.label, Search(subject, entry, dict(spec.params), space, budget))
    return list(searches.values())


def _extend(searches: list[Search], protocol: Protocol) -> list[Spec]:
    """One extension round: specs searching past every edge that may be extended; records every edge."""
    specs: list[Spec] = []
    for search in searches:
        edges = search.on_edges()
        points = [p for name, side in edges
                  for p in search.extension(name, side, protocol.extend, protocol.max_extensions)]
        if points:
            search.rounds += 1
            search.extra_trials += len(points)
            specs.extend(search.specs(points))
    return specs


def _search_task(task: Spec, searches: list[Search], protocol: Protocol, out: str | Path | None,
                 settings: dict[str, Any], run_study: Callable[[Any], None]) -> tuple[Any, Metric, str]:
    """Search every optimizer on one task (first round, then extension rounds); returns the study."""
    specs = [spec for search in searches for spec in search.first_round(protocol.sampler, protocol.search_seed)]
    study = _plan(task, specs, [protocol.search_seed], out, settings)
    config = study.configs[0]
    metric = selection_metric(_task(settings["registry"], config.task, config.task_params), protocol.metric,
                              config.task_label)  # a bad metric fails before any training
    column, maximize = f"{protocol.select}_{metric.name}", metric.direction == "max"
    run_study(study)
    for _ in range(protocol.max_extensions + 1):
        trials = study.store.read_trials()
        if column not in trials:
            raise OptbenchError(f"the trials in {study.store.path} record no {column!r} to select by")
        trials = trials[(trials["task_label"] == config.task_label) & (trials["seed"] == protocol.search_seed)]
        for search in searches:
            search.pick(trials, column, maximize)
        more = _extend(searches, protocol)
        if not more:
            break
        run_study(_plan(task, more, [protocol.search_seed], study.store.path, settings))
    return study, metric, config.task_label


def _choice(search: Search, task_label: str, metric: Metric, column: str, protocol: Protocol) -> dict[str, Any]:
    """What ``tune.json`` says about one optimizer on one task."""
    assert search.best is not None
    chosen = Spec(search.entry.name, assign(search.entry, search.fixed, search.best["point"]))
    return {"task": task_label, "optimizer": search.subject.label, "chosen": chosen.label,
            "lr": float(search.best["point"]["lr"]), "point": search.best["point"], "fixed": search.fixed,
            "metric": metric.name, "direction": metric.direction, "score_column": column,
            "search_score": search.best["score"], "budget": protocol.budget,
            "extra_trials": search.extra_trials, "trials_used": protocol.budget + search.extra_trials,
            "initial_space": {k: r.to_json() for k, r in search.entry.search_space.items() if k in search.space},
            "space": {k: r.to_json() for k, r in search.space.items()}, "edges": search.edges,
            "search_trials": search.best["trial_ids"], "_spec": chosen}


def edge_notes(choices: list[dict[str, Any]]) -> list[str]:
    """One line per chosen value that lay on an edge of its range, and what was done about it."""
    return [f"{c['optimizer']} on {c['task']}: {e['hyperparameter']} = {e['value']:g} lay on the "
            f"{'upper' if e['side'] == 'high' else 'lower'} edge of [{e['range'][0]:g}, {e['range'][1]:g}]; "
            f"{e['action']}" for c in choices for e in c["edges"]]


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
    run_study: Callable[[Any], None] | None = None,
    threads: int | str = "auto",
    workers: int = 1,
) -> dict[str, Any]:
    """Run the protocol; returns the ``tune.json`` content. ``run_study(study)`` runs a phase (default: in
    this process). ``threads`` sets torch's CPU threads for every phase; ``workers``: how many processes
    ``run_study`` runs them on, which the thread policy divides the cores among."""
    protocol = protocol or Protocol()
    registry = registry or load_registry()
    run_study = run_study or _run
    settings = {"schedules": schedules, "batch_sizes": batch_sizes, "steps": steps, "epochs": epochs,
                "seconds": seconds, "eval_every": eval_every, "device": device, "registry": registry,
                "threads": threads, "workers": workers}
    final_seeds = [protocol.search_seed + 1 + i for i in range(protocol.seeds)]
    choices: list[dict[str, Any]] = []
    store: Store | None = None
    for task in parse_list(tasks):
        searches = _searches(registry, optims, protocol.budget)
        study, metric, label = _search_task(task, searches, protocol, store.path if store else out, settings,
                                            run_study)
        store = study.store
        column = f"{protocol.select}_{metric.name}"
        for search in searches:
            choice = _choice(search, label, metric, column, protocol)
            final = _plan(task, [choice.pop("_spec")], final_seeds, store.path, settings)
            run_study(final)
            choice["final_trials"] = [c.trial_id for c in final.configs]
            choices.append(choice)
    assert store is not None
    result = {"protocol": asdict(protocol), "final_seeds": final_seeds, "store": str(store.path),
              "choices": choices, "notes": edge_notes(choices), "significance": significance(store, choices)}
    write_tuning(store, result)
    return result


def significance(store: Store, choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task: median over the final seeds per optimizer, the winner and who is within seed noise of it."""
    trials = store.read_trials()
    out: list[dict[str, Any]] = []
    for task in dict.fromkeys(c["task"] for c in choices):
        rows, maximize = [], False
        for choice in (c for c in choices if c["task"] == task):
            part = trials[trials["trial_id"].isin(choice["final_trials"])].copy()
            maximize = choice["direction"] == "max"
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
    tuning = Store(path).read_tuning()
    if tuning is None:
        raise OptbenchError(f"no tune.json in {path} (run `optbench tune --out {path}` first)")
    return tuning


def sensitivity(trials: pd.DataFrame, tuning: dict[str, Any]) -> pd.DataFrame:
    """One row per search trial: task, optimizer, lr, score, status and whether it was chosen (for plots)."""
    rows = []
    for choice in tuning["choices"]:
        part = trials[trials["trial_id"].isin(choice["search_trials"])]
        score = _score(part, choice["score_column"], choice.get("direction") == "max")
        chosen = part["optimizer_label"] == choice["chosen"]
        rows.append(pd.DataFrame({"task": choice["task"], "optimizer": choice["optimizer"], "lr": part["lr"],
                                  "score": score, "status": part["status"], "metric": choice["score_column"],
                                  "chosen": chosen}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


__all__ = ["Protocol", "Search", "edge_notes", "learning_rates", "load_tuning", "sample_space", "selection_metric",
           "sensitivity", "significance", "tune", "unit_points", "write_tuning"]

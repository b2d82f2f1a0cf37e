"""The tuning protocol: exactly the same number of search trials for every optimizer over its declared
search space, then fresh seeds for the winner.

For each task and optimizer the protocol spends ``budget`` search trials, all with the search seed:

1. **First round**: ``first_round_size(budget)`` = ⌈budget/2⌉ points of the entry's search space
   (:attr:`optbench.entries.Entry.search_space`: lr and, where declared, momentum / β₁ / β₂ / α / weight decay,
   each a log or linear :class:`~optbench.entries.Range`; values the user fixes in the spec are held fixed
   and not searched): scrambled Sobol (``torch.quasirandom``, the default, as in AlgoPerf) or Halton
   (``scipy.stats.qmc``) points in ``d`` dimensions, or a product grid (``k`` values per axis with
   ``k**d <= n``, topped up with Sobol points).
2. **Refinement**, the rest of the budget, one trial per optimizer per round: a line search along one axis
   at a time (lr first, then the others in declared order) through the best point so far. A side of the
   line with no trial yet is probed one *grid step* away (``n**(-1/d)`` of the declared range, the spacing
   of the first round); once both sides hold a trial, the golden-section point of the larger side is tried.
   A probe past the range's bound is an **edge**: the chosen value lies within one grid step of the bound
   (judged against the range, never against the values tried). Unless ``extend`` is off the range is then
   extended by a decade (log) or a width (linear), within its limits, at most ``max_extensions`` times per
   optimizer and task, and every extension is recorded; otherwise the probe stops at the bound. A search
   whose probes can find no untried value (at 4 significant digits) stops early and says so.
3. **Selection** by the task's declared metric (its headline unless ``metric`` names another declared one),
   its ``final`` or ``best`` value, better by the metric's declared direction; a trial that did not complete
   scores worst, and a minimised metric's values below its declared resolution
   (:attr:`optbench.tasks.base.Metric.resolution`) count as equal to it. **Ties** go to the smallest
   values, compared in the space's order (lr first): the cautious end of a flat score.
4. The chosen setting is re-run with ``seeds`` fresh seeds (distinct from the search seed, so the reported
   numbers are not the ones the selection was made on).

Every value is rounded to 4 significant digits (readable labels) and *then* clipped to its range's limits, so
no value leaves the domain (β₂ stays below 1). Every trial goes to one store; the protocol, the search spaces,
every edge and extension, the trials used per optimizer and the chosen settings are written to ``tune.json``
(:func:`write_tuning`). Seed statistics come from :mod:`optbench.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from optbench.entries import Entry, Range
from optbench.errors import OptbenchError, SpecError
from optbench.judge import declarations_by_label, judge, selection_score, vs_leader_words
from optbench.plan import TaskCache
from optbench.registry import Registry, load_registry
from optbench.spec import Spec, parse_list
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
    """What makes a tuning run fair and reproducible; recorded verbatim in ``tune.json``.

    ``budget`` is the whole search: first round, extensions and refinement, the same for every optimizer."""

    budget: int = 16
    sampler: str = "sobol"
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


def first_round_size(budget: int) -> int:
    """Trials of the first round: half the budget, rounded up; the rest refine (and extend) the best point."""
    return (budget + 1) // 2


def grid_step(n: int, d: int) -> float:
    """The spacing of ``n`` points over ``d`` axes, ``n**(-1/d)``, in unit coordinates of a declared range:
    how far a line search probes an unexplored side, and how near a bound a chosen value is on its edge."""
    return float(n) ** (-1.0 / d)


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


def in_domain(value: float, declared: Range) -> float:
    """``value`` rounded to 4 significant digits (labels stay readable), *then* clipped to the range's
    limits: clipping first and rounding after could leave them (β₂ 0.999995 → 1.0, which Adam refuses)."""
    return declared.clip(float(f"{value:.4g}"))


def sample_space(space: dict[str, Range], budget: int, sampler: str, seed: int = 0) -> list[dict[str, float]]:
    """``budget`` points of ``space`` (one value per hyperparameter), each value :func:`in_domain`."""
    names = list(space)
    return [{name: in_domain(space[name].at(u[i]), space[name]) for i, name in enumerate(names)}
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


# -- one optimizer's search on one task ---------------------------------------------------------------

GOLDEN = (3 - math.sqrt(5)) / 2  # 0.382: the golden-section point of a bracket side, as a fraction of it
SAME = 1e-9  # unit coordinates closer than this are one point


@dataclass
class Search:
    """One optimizer's search on one task: its space, the points tried (by spec label, in order), their
    scores and the outcome. ``space`` holds the current (possibly extended) ranges, ``declared`` the entry's."""

    subject: Spec
    entry: Entry
    fixed: dict[str, Any]
    space: dict[str, Range]
    protocol: Protocol
    points: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    extensions: int = 0
    axis: int = 0
    stopped: str = ""
    best: dict[str, Any] | None = None
    declared: dict[str, Range] = field(init=False)
    first: int = field(init=False)
    step: float = field(init=False)

    def __post_init__(self) -> None:
        self.declared = dict(self.space)
        self.first = first_round_size(self.protocol.budget)
        self.step = grid_step(self.first, len(self.space))

    def first_round(self) -> list[Spec]:
        return self.specs(sample_space(self.space, self.first, self.protocol.sampler, self.protocol.search_seed))

    def specs(self, points: list[dict[str, float]]) -> list[Spec]:
        """Specs for ``points``, remembered so their trials can be found again by label."""
        specs = [Spec(self.entry.name, assign(self.entry, self.fixed, p)) for p in points]
        self.points.update({s.label: p for s, p in zip(specs, points, strict=True)})
        return specs

    def pick(self, trials: pd.DataFrame, column: str, metric: Metric) -> None:
        """The best search trial so far; ties (equal scores, at the metric's resolution) go to the smallest
        values in the space's order, lr first: the cautious end of a flat score."""
        rows = trials[trials["optimizer_label"].isin(list(self.points))].copy()
        if rows.empty:
            raise OptbenchError(f"no search trials of {self.subject.label!r} in the store")
        maximize = metric.direction == "max"
        rows["score"] = selection_score(rows, column, metric)
        self.scores = dict(zip(rows["optimizer_label"], rows["score"].astype(float), strict=True))
        rows["_point"] = [tuple(self.points[label].values()) for label in rows["optimizer_label"]]
        best = rows.sort_values(["score", "_point"], ascending=[not maximize, True]).iloc[0]
        self.best = {"label": best["optimizer_label"], "point": self.points[best["optimizer_label"]],
                     "score": float(best["score"]), "trial_ids": rows["trial_id"].tolist()}

    def _u(self, name: str, value: float) -> float:
        return self.declared[name].to_unit(value)  # unit coordinates of the declared range: one ruler per axis

    def _line(self, name: str) -> list[float]:
        """Unit coordinates, along ``name``, of the trials on the line through the best point."""
        assert self.best is not None
        x = self.best["point"]
        return [self._u(name, p[name]) for p in self.points.values()
                if all(p[k] == x[k] for k in p if k != name)]

    def refine(self) -> list[Spec]:
        """This round's probe (one spec), or none when the budget is spent or no new value is left to try."""
        if self.stopped or len(self.points) >= self.protocol.budget:
            return []
        names = list(self.space)
        for turn in range(len(names)):
            name = names[(self.axis + turn) % len(names)]
            probe = self._probe(name)
            if probe is not None:
                self.axis = (self.axis + turn + 1) % len(names)
                point, grown, side = probe
                if grown is not None:
                    self._extended(name, side, grown, point[name])
                return self.specs([point])
        self.stopped = (f"converged: no untried value at 4 significant digits next to the best point; "
                        f"{self.protocol.budget - len(self.points)} trial(s) of the budget left unused")
        return []

    def _probe(self, name: str) -> tuple[dict[str, float], Range | None, str] | None:
        """The next point along ``name`` (with the range it needs, and its side), or None if none is new."""
        assert self.best is not None
        ux = self._u(name, self.best["point"][name])
        line = self._line(name)
        low = max((u for u in line if u < ux - SAME), default=None)
        high = min((u for u in line if u > ux + SAME), default=None)
        for side in self._side_order(name, ux, low, high):
            target = self._target(name, side, ux, low if side == "low" else high)
            if target is None:
                continue
            u, grown = target
            value = in_domain(self.declared[name].at(u), grown or self.space[name])
            point = {**self.best["point"], name: value}
            if point not in self.points.values():
                return point, grown, side
        return None

    def _side_order(self, name: str, ux: float, low: float | None, high: float | None) -> list[str]:
        """Unexplored sides first (the nearer bound of the range first); then the larger bracketed side."""
        if low is None and high is None:
            rng = self.space[name]
            nearer_high = self._u(name, rng.high) - ux <= ux - self._u(name, rng.low)
            return ["high", "low"] if nearer_high else ["low", "high"]
        if low is None or high is None:
            return ["low", "high"] if low is None else ["high", "low"]
        return ["high", "low"] if high - ux >= ux - low else ["low", "high"]

    def _target(self, name: str, side: str, ux: float, neighbour: float | None) -> tuple[float, Range | None] | None:
        """Unit coordinate of the probe on ``side`` and the extended range it needs (None: the side is closed)."""
        sign = 1.0 if side == "high" else -1.0
        if neighbour is not None:
            return ux + sign * GOLDEN * abs(neighbour - ux), None
        rng, target = self.space[name], ux + sign * self.step
        bound = self._u(name, rng.high if side == "high" else rng.low)
        if sign * (target - bound) <= SAME:
            return target, None
        grown = self._grown(rng, side)
        if grown is not None:  # an edge: the best value lies within one grid step of the range's bound
            new = self._u(name, grown.high if side == "high" else grown.low)
            return (min(target, new) if side == "high" else max(target, new)), grown
        return (bound, None) if sign * (bound - ux) > SAME else None

    def _grown(self, rng: Range, side: str) -> Range | None:
        if not self.protocol.extend or self.extensions >= self.protocol.max_extensions:
            return None
        return rng.extended(side)  # type: ignore[arg-type]

    def _extended(self, name: str, side: str, grown: Range, probe: float) -> None:
        assert self.best is not None
        old = self.space[name]
        self.space[name] = grown
        self.extensions += 1
        self.edges.append({"hyperparameter": name, "side": side, "value": self.best["point"][name],
                           "range": [old.low, old.high], "extended": True, "to": [grown.low, grown.high],
                           "probe": probe, "after_trials": len(self.points),
                           "action": f"extended to [{grown.low:g}, {grown.high:g}] (probe {name} = {probe:g})"})

    def final_edges(self) -> None:
        """Record every chosen value still within one grid step of a bound with no trial beyond it on its line,
        and why the range was not extended (further)."""
        assert self.best is not None
        for name, value in self.best["point"].items():
            ux, line, rng = self._u(name, value), self._line(name), self.space[name]
            for side, bound in (("low", rng.low), ("high", rng.high)):
                sign = 1.0 if side == "high" else -1.0
                beyond = any(sign * (u - ux) > SAME for u in line)
                if beyond or sign * (self._u(name, bound) - ux) > self.step + SAME:
                    continue
                why = ("extension is off" if not self.protocol.extend else
                       "the range reaches its limit" if rng.extended(side) is None else  # type: ignore[arg-type]
                       f"{self.protocol.max_extensions} extension(s) used"
                       if self.extensions >= self.protocol.max_extensions else "the search budget was spent")
                self.edges.append({"hyperparameter": name, "side": side, "value": value, "range": [rng.low, rng.high],
                                   "extended": False, "after_trials": len(self.points),
                                   "action": f"not extended: {why}"})


def _searches(registry: Registry, optims: str | None, protocol: Protocol) -> list[Search]:
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
        searches.setdefault(subject.label, Search(subject, entry, dict(spec.params), space, protocol))
    return list(searches.values())


def _search_task(task: Spec, searches: list[Search], protocol: Protocol, out: str | Path | None,
                 settings: dict[str, Any], run_study: Callable[[Any], None]) -> tuple[Any, Metric, str]:
    """Search every optimizer on one task (first round, then one refinement trial per optimizer per round
    until each has spent the budget); returns the study."""
    specs = [spec for search in searches for spec in search.first_round()]
    study = _plan(task, specs, [protocol.search_seed], out, settings)
    config = study.configs[0]
    metric = selection_metric(_task(settings["registry"], config.task, config.task_params), protocol.metric,
                              config.task_label)  # a bad metric fails before any training
    column = f"{protocol.select}_{metric.name}"
    run_study(study)
    while True:
        trials = study.store.read_trials()
        if column not in trials:
            raise OptbenchError(f"the trials in {study.store.path} record no {column!r} to select by")
        trials = trials[(trials["task_label"] == config.task_label) & (trials["seed"] == protocol.search_seed)]
        for search in searches:
            search.pick(trials, column, metric)
        more = [spec for search in searches for spec in search.refine()]
        if not more:
            break
        run_study(_plan(task, more, [protocol.search_seed], study.store.path, settings))
    for search in searches:
        search.final_edges()
    return study, metric, config.task_label


def _choice(search: Search, task_label: str, metric: Metric, column: str, protocol: Protocol) -> dict[str, Any]:
    """What ``tune.json`` says about one optimizer on one task."""
    assert search.best is not None
    chosen = Spec(search.entry.name, assign(search.entry, search.fixed, search.best["point"]))
    return {"task": task_label, "optimizer": search.subject.label, "chosen": chosen.label,
            "lr": float(search.best["point"]["lr"]), "point": search.best["point"], "fixed": search.fixed,
            "metric": metric.name, "direction": metric.direction, "resolution": metric.resolution,
            "score_column": column, "search_score": search.best["score"], "budget": protocol.budget,
            "first_round": search.first, "trials_used": len(search.points), "extensions": search.extensions,
            "stopped": search.stopped, "grid_step": search.step,
            "initial_space": {k: r.to_json() for k, r in search.declared.items()},
            "space": {k: r.to_json() for k, r in search.space.items()}, "edges": search.edges,
            "warnings": _warnings(search.edges, search.stopped),
            "search_trials": search.best["trial_ids"], "_spec": chosen}


def _edge_note(edge: dict[str, Any]) -> str:
    side = "upper" if edge["side"] == "high" else "lower"
    after = f" after {edge['after_trials']} trials" if "after_trials" in edge else ""
    return (f"{edge['hyperparameter']} = {edge['value']:g} lay within one grid step of the {side} bound of "
            f"[{edge['range'][0]:g}, {edge['range'][1]:g}]{after}; {edge['action']}")


def _warnings(edges: list[dict[str, Any]], stopped: str) -> list[str]:
    """What a reader of the chosen setting must know: values left on an edge, a search that stopped early
    (the report prints these as the choice's tuning caveats)."""
    return [_edge_note(e) for e in edges if not e["extended"]] + ([stopped] if stopped else [])


def edge_notes(choices: list[dict[str, Any]]) -> list[str]:
    """One line per edge met during a search (a chosen value within one grid step of its range's bound), and
    what was done about it; one line per search that stopped before spending its budget."""
    notes = [f"{c['optimizer']} on {c['task']}: {_edge_note(e)}" for c in choices for e in c["edges"]]
    return notes + [f"{c['optimizer']} on {c['task']}: {c['stopped']}" for c in choices if c.get("stopped")]


def trials_sentence(choices: list[dict[str, Any]]) -> str:
    """How many search trials each optimizer used, truthfully: one count when all are equal, else each."""
    used = {f"{c['optimizer']} on {c['task']}": int(c["trials_used"]) for c in choices}
    if len(set(used.values())) <= 1:
        return f"every optimizer used {next(iter(used.values()), 0)} search trials per task"
    return "search trials per optimizer differ: " + ", ".join(f"{k} {v}" for k, v in used.items())


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
        searches = _searches(registry, optims, protocol)
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
    """Per task and optimizer: the judge's verdict on the chosen settings' fresh seeds (final value of the
    selection metric): median [IQR], the leader, and each one's comparison with it (:mod:`optbench.judge`)."""
    trials, declarations = store.read_trials(), store.read_declarations()
    out: list[dict[str, Any]] = []
    for task in dict.fromkeys(c["task"] for c in choices):
        mine = [c for c in choices if c["task"] == task]
        subject = {t: c["optimizer"] for c in mine for t in c["final_trials"]}
        part = trials[trials["trial_id"].isin(subject)].copy()
        part["subject"] = part["trial_id"].map(subject)
        if part.empty:
            continue
        decl = declarations_by_label(part, declarations)[task]
        decl = replace(decl, headline=mine[0]["metric"])  # the selection metric decides, as in the search
        verdicts = judge(part, {k: decl for k in part["task_key"].unique()}, store.read_metrics(set(subject)),
                         config_column="subject")
        task_row = verdicts.tasks.iloc[0]
        for row in verdicts.configs.to_dict("records"):
            out.append({"task": task, "subject": row["config"], "median": row["final_median"],
                        "q25": row["final_q25"], "q75": row["final_q75"], "n": row["final_n"],
                        "is_best": row["headline_vs_leader"] == "leader",
                        "is_winner": row["config"] == task_row["headline_winner"],
                        "verdict": vs_leader_words(row["headline_vs_leader"], task_row["headline_winner"]),
                        "comparison": task_row["headline_text"]})
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
        score = selection_score(part, choice["score_column"], Metric(choice["metric"], choice["direction"],
                                                                       choice["metric"]))
        chosen = part["optimizer_label"] == choice["chosen"]
        rows.append(pd.DataFrame({"task": choice["task"], "optimizer": choice["optimizer"], "lr": part["lr"],
                                  "score": score, "status": part["status"], "metric": choice["score_column"],
                                  "chosen": chosen}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


__all__ = ["Protocol", "Search", "edge_notes", "first_round_size", "grid_step", "in_domain", "learning_rates",
           "load_tuning", "sample_space", "selection_metric", "sensitivity", "significance", "trials_sentence", "tune",
           "unit_points", "write_tuning"]

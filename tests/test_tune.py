"""The tuning protocol: samplers over a search space, the budget split into a first round and refinement,
edges judged against the range and their extension, values kept in the domain, selection by the task's
declared metric at its resolution with a stated tie rule, the lr it picks on a quadratic whose answer is
known, the store and tune.json."""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.entries import Range
from optbench.errors import SpecError
from optbench.tasks.base import Metric, Parameters, Task
from optbench.tune import (
    Protocol,
    Search,
    assign,
    first_round_size,
    grid_step,
    in_domain,
    learning_rates,
    load_tuning,
    sample_space,
    selection_metric,
    sensitivity,
    tune,
    unit_points,
)

QUADRATIC = "quadratic[dim=10,kappa=100,noise=0,n=8]"  # L = 1, μ = 1/κ: GD's best lr is 2/(L+μ) ≈ 1.98


def _registry() -> optbench.Registry:
    return optbench.load_registry(plugin_dir=None)


@pytest.mark.parametrize("sampler", ["grid", "sobol", "halton"])
def test_learning_rates_cover_the_range_on_a_log_scale(sampler: str) -> None:
    rates = learning_rates((1e-4, 1.0), 5, sampler, seed=0)
    assert len(rates) == 5 and all(1e-4 <= r <= 1.0 for r in rates)
    assert rates == learning_rates((1e-4, 1.0), 5, sampler, seed=0)  # reproducible
    if sampler == "grid":
        assert rates == [1e-4, 1e-3, 1e-2, 0.1, 1.0]
    else:  # quasi-random points spread over the decades instead of bunching
        assert len({math.floor(math.log10(r)) for r in rates}) >= 3


def test_grid_is_a_product_topped_up_to_the_budget() -> None:
    points = unit_points(2, 9, "grid")
    assert {tuple(p) for p in points} == {(a, b) for a in (0, 0.5, 1) for b in (0, 0.5, 1)}
    assert len(unit_points(2, 11, "grid")) == 11  # 3×3 grid + 2 Sobol points: the budget is exact
    assert len({tuple(p) for p in unit_points(3, 8, "grid")}) == 8  # 2×2×2
    space = {"lr": Range(1e-3, 1e-1), "momentum": Range(0.5, 0.9, "linear")}
    values = sample_space(space, 9, "grid")
    assert sorted({p["lr"] for p in values}) == [1e-3, 1e-2, 1e-1]  # log scale: the middle is 1e-2
    assert sorted({p["momentum"] for p in values}) == [0.5, 0.7, 0.9]  # linear: the middle is 0.7
    for sampler in ("sobol", "halton"):
        cloud = sample_space(space, 16, sampler)
        assert all(1e-3 <= p["lr"] <= 1e-1 and 0.5 <= p["momentum"] <= 0.9 for p in cloud)


def test_ranges_extend_by_a_decade_or_a_width_within_limits() -> None:
    assert Range(1e-4, 1.0).extended("high") == Range(1e-4, 10.0)
    assert Range(1e-4, 1.0).extended("low") == Range(1e-5, 1.0)
    beta = Range(0.8, 0.99, "linear", limits=(0.0, 0.999))
    assert beta.extended("high") == Range(0.8, 0.999, "linear", limits=(0.0, 0.999))
    assert beta.extended("high").extended("high") is None  # already at its limit
    assert beta.extended("low").low == pytest.approx(0.61)
    for bad in ((0.0, 1.0, "log"), (1.0, 0.5, "linear"), (0.1, float("inf"), "log")):
        with pytest.raises(ValueError):
            Range(*bad)


def test_builtins_declare_search_spaces_over_several_hyperparameters() -> None:
    registry = _registry()
    assert set(registry.get("optimizer", "sgd").search_space) == {"lr"}
    assert set(registry.get("optimizer", "momentum").search_space) == {"lr", "momentum"}
    assert set(registry.get("optimizer", "adam").search_space) == {"lr", "betas.0", "betas.1"}
    assert "weight_decay" in registry.get("optimizer", "adamw").search_space
    assert registry.get("optimizer", "adam").search_space["lr"].scale == "log"
    lion = optbench.optimizer("lion2", torch.optim.SGD, "x", lr_range=(1e-5, 1e-2))
    assert lion.search_space == {"lr": Range(1e-5, 1e-2, "log")}  # lr_range is the shortcut
    adam = registry.get("optimizer", "adam")
    assert assign(adam, {}, {"lr": 0.01, "betas.0": 0.95}) == {"lr": 0.01, "betas": (0.95, 0.999)}
    assert assign(adam, {"betas": (0.5, 0.9)}, {"betas.1": 0.99})["betas"] == (0.5, 0.99)


def test_the_budget_is_split_into_a_first_round_and_refinement() -> None:
    assert [first_round_size(b) for b in (1, 2, 6, 7, 16)] == [1, 1, 3, 4, 8]
    assert grid_step(8, 1) == 1 / 8 and grid_step(8, 3) == pytest.approx(1 / 2)
    assert Protocol().sampler == "sobol"  # quasi-random first rounds by default, as AlgoPerf


def test_protocol_rejects_bad_values() -> None:
    with pytest.raises(SpecError, match="budget"):
        Protocol(budget=0)
    with pytest.raises(SpecError, match="sampler"):
        Protocol(sampler="random")
    with pytest.raises(SpecError, match="max_extensions"):
        Protocol(max_extensions=-1)


class _Scored(Task):
    """A task whose headline metric is called 'score' and is better HIGHER (a name guesser would say lower)."""

    n_train = 1
    metrics = (Metric("score", "max", "a score"),)
    headline = "score"

    def init_model(self, seed: int) -> torch.nn.Module:
        return Parameters(torch.zeros(1))

    def train_batch(self, indices: torch.Tensor) -> torch.Tensor:
        return indices

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return model.theta.sum()


def _search(name: str = "sgd", budget: int = 3, **protocol: object) -> Search:
    entry = _registry().get("optimizer", name)
    return Search(optbench.spec.Spec(name), entry, {}, dict(entry.search_space), Protocol(budget=budget, **protocol))


def _scored(search: Search, points: list[dict[str, float]], scores: list[float],
            statuses: list[str] | None = None) -> pd.DataFrame:
    specs = search.specs(points)
    return pd.DataFrame({"optimizer_label": [s.label for s in specs], "trial_id": [f"t{i}" for i in range(len(specs))],
                         "status": statuses or ["completed"] * len(specs), "final_score": scores})


def test_selection_follows_the_declared_direction_not_the_name() -> None:
    metric = selection_metric(_Scored(), "auto", "scored")
    assert (metric.name, metric.direction) == ("score", "max")
    with pytest.raises(SpecError, match="declares train_loss, score"):
        selection_metric(_Scored(), "val_acc", "scored")
    search = _search()
    trials = _scored(search, [{"lr": 0.01}, {"lr": 0.1}, {"lr": 1.0}], [1.0, 5.0, 9.0],
                     ["completed", "completed", "diverged"])
    search.pick(trials, "final_score", Metric("score", "max", "a score"))
    assert search.best["point"] == {"lr": 0.1}  # the highest completed score; the diverged trial scores worst
    search.pick(trials, "final_score", Metric("score", "min", "a score"))
    assert search.best["point"] == {"lr": 0.01}


def test_values_within_the_declared_resolution_tie_and_the_smaller_value_wins() -> None:
    # the case: 0.0 against 9e-34, both below the suboptimality's resolution of 1e-20, are one value
    search = _search()
    trials = _scored(search, [{"lr": 0.5}, {"lr": 0.05}, {"lr": 1.0}], [0.0, 9e-34, 1e-3])
    search.pick(trials, "final_score", Metric("score", "min", "s", resolution=1e-20))
    assert search.best["point"] == {"lr": 0.05} and search.best["score"] == 1e-20  # the tie rule: smaller lr
    search.pick(trials, "final_score", Metric("score", "min", "s"))  # no resolution declared: 0.0 is better
    assert search.best["point"] == {"lr": 0.5}
    search.pick(trials, "final_score", Metric("score", "min", "s", resolution=1e-40))
    assert search.best["point"] == {"lr": 0.5}  # 0 and 9e-34 are distinct above a finer resolution


def test_edges_are_judged_against_the_range_not_the_highest_value_tried() -> None:
    # the case: adam's lr = 0.04936 was called "on the upper edge of [1e-05, 0.1]" for being the highest
    # value tried. Now an edge is a value within one grid step of the range's bound (budget 16: 8 first-round
    # points in 1-D, a step of 1/8 of the range)
    search = _search("sgd", budget=16)  # [1e-4, 1], grid step 0.5 decades
    trials = _scored(search, [{"lr": 1e-4}, {"lr": 1e-3}, {"lr": 0.01}, {"lr": 0.08}], [4.0, 3.0, 2.0, 1.0])
    search.pick(trials, "final_score", Metric("score", "min", "s"))
    (probe,) = search.refine()  # 0.08 is the highest tried, 1.1 decades from the bound: refined, not extended
    assert search.points[probe.label]["lr"] == pytest.approx(0.08 * 10**0.5, rel=1e-3)
    assert search.edges == [] and search.space["lr"] == Range(1e-4, 1.0)
    edge = _search("sgd", budget=16)
    trials = _scored(edge, [{"lr": 1e-4}, {"lr": 0.01}, {"lr": 0.5}], [3.0, 2.0, 1.0])
    edge.pick(trials, "final_score", Metric("score", "min", "s"))
    (probe,) = edge.refine()  # 0.5 lies within one grid step of 1: the range is extended, the probe past it
    assert edge.points[probe.label]["lr"] == pytest.approx(0.5 * 10**0.5, rel=1e-3)
    assert edge.space["lr"] == Range(1e-4, 10.0) and edge.edges[0]["extended"] and edge.edges[0]["side"] == "high"


def test_refinement_spends_exactly_the_budget_and_brackets_the_optimum() -> None:
    # a synthetic score with its minimum at lr = 0.3 (log scale): the line search, one probe a round, finds it
    search = _search("sgd", budget=12, sampler="grid")
    metric = Metric("score", "min", "s")
    frame = _scored(search, search_points := sample_space(search.space, search.first, "grid"),
                    [abs(math.log10(p["lr"] / 0.3)) for p in search_points])
    while True:
        search.pick(frame, "final_score", metric)
        more = search.refine()
        if not more:
            break
        lr = search.points[more[0].label]["lr"]
        frame = pd.concat([frame, pd.DataFrame({"optimizer_label": [more[0].label], "trial_id": [more[0].label],
                                                "status": ["completed"], "final_score": [abs(math.log10(lr / 0.3))]})])
    assert search.first == 6 and len(search.points) == 12 == len(frame) and not search.stopped
    assert abs(math.log10(search.best["point"]["lr"] / 0.3)) < 0.05


def test_tune_finds_gd_best_lr_on_kappa_100_at_the_suites_budget(tmp_path: Path) -> None:
    # Full-batch GD on a quadratic with curvatures in [1/κ, 1] converges fastest at lr = 2/(L+μ) ≈ 1.98 and
    # diverges above 2/L = 2: a window of 5 % of a decade, past the declared range's end (1). The suite's
    # protocol, workload and selection metric must land within 10 % of it, inside the budget.
    from optbench.suite.definition import load_suite
    from optbench.suite.run import suite_protocol

    suite = load_suite("lecture-v1")
    workload = suite.workload("quadratic-k100")
    registry = _registry()
    target = workload.resolve_target(registry)
    protocol = dataclasses.replace(suite_protocol(suite, target.metric), seeds=1)
    out = tmp_path / "tuned"
    result = tune(workload.task, "sgd", protocol, steps=workload.steps, batch_sizes=str(workload.batch_size),
                  out=out, registry=registry, device="cpu", threads=1)
    (choice,) = result["choices"]
    best = 2 / (1 + 1 / 100)
    assert abs(choice["lr"] - best) / best < 0.10, choice["lr"]
    assert choice["trials_used"] == protocol.budget == len(choice["search_trials"])
    assert choice["metric"] == target.metric and choice["direction"] == target.direction
    first = choice["edges"][0]
    assert first["hyperparameter"] == "lr" and first["side"] == "high" and first["extended"]
    assert first["range"] == [1e-4, 1.0] and choice["space"]["lr"]["high"] == 10.0
    assert "within one grid step of the upper bound of [0.0001, 1]" in result["notes"][0]
    trials = optbench.load(out).trials
    assert len(trials) == protocol.budget + 1 and set(trials["seed"]) == {0, 1}  # every trial of every phase
    stored = load_tuning(out)
    assert stored["choices"][0]["chosen"] == choice["chosen"] and stored["protocol"]["sampler"] == "sobol"
    curve = sensitivity(trials, stored)
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "lr"].item() == choice["lr"]
    from optbench.report import build_report

    page = build_report([out], tmp_path / "tuned.html").read_text()
    assert "Tuning protocol: chosen settings and significance" in page and choice["chosen"] in page
    assert f"Every optimizer used the same number of search trials ({protocol.budget} per task)" in page


def test_no_extend_keeps_the_range_and_the_budget(tmp_path: Path) -> None:
    result = tune(QUADRATIC, "sgd", Protocol(budget=4, sampler="grid", seeds=1, extend=False), steps=100,
                  out=tmp_path / "s", registry=_registry(), device="cpu", threads=1)
    (choice,) = result["choices"]
    assert choice["lr"] == 1.0 and choice["trials_used"] == 4 and choice["extensions"] == 0
    assert choice["space"]["lr"] == choice["initial_space"]["lr"]
    assert choice["edges"][0]["extended"] is False and "extension is off" in result["notes"][0]
    assert choice["warnings"] == [result["notes"][0].split(": ", 1)[1]]  # the report's tuning caveat


def test_every_builtin_search_space_extended_to_its_limits_stays_in_the_domain() -> None:
    # rounding to 4 significant digits comes before the clip to the limits: β₂'s limit 0.99999 rounds to 1.0
    registry = _registry()
    for entry in registry.list("optimizer"):
        for name, declared in entry.search_space.items():
            grown = declared
            for side in ("low", "high", "high", "low", "high"):
                grown = grown.extended(side) or grown
            for u in [i / 64 for i in range(-8, 73)]:
                value = in_domain(grown.at(u), grown)
                if declared.limits is not None:
                    assert declared.limits[0] <= value <= declared.limits[1], (entry.name, name, u, value)
                if name.startswith("betas"):
                    assert value < 1.0
            if declared.limits is not None:
                for bound in declared.limits:  # the limits themselves build a valid optimizer
                    params = assign(entry, {}, {**{k: r.low for k, r in entry.search_space.items()}, name: bound})
                    entry.create([torch.nn.Parameter(torch.zeros(1))], **params)
    adam = registry.get("optimizer", "adam")
    assert in_domain(0.999995, adam.search_space["betas.1"]) == 0.99999  # not 1.0
    search = _search("adam", budget=16, sampler="grid", max_extensions=3)  # a β₂ winning at its top: to the limit

    def score(p: dict[str, float]) -> float:  # lr and β₁ best inside their ranges, β₂ the higher the better
        return abs(math.log10(p["lr"] / 1e-3)) + abs(p["betas.0"] - 0.9) - 1000 * p["betas.1"]

    metric = Metric("score", "min", "s")
    frame = _scored(search, pts := sample_space(search.space, search.first, "grid"), [score(p) for p in pts])
    while more := (search.pick(frame, "final_score", metric), search.refine())[1]:
        point = search.points[more[0].label]
        frame = pd.concat([frame, pd.DataFrame({"optimizer_label": [more[0].label], "trial_id": [more[0].label],
                                                "status": ["completed"], "final_score": [score(point)]})])
    assert max(p["betas.1"] for p in search.points.values()) == 0.99999
    assert all(p["betas.1"] < 1.0 for p in search.points.values())


def test_tune_refuses_an_lr_it_is_meant_to_search() -> None:
    with pytest.raises(SpecError, match="lr is what tune searches"):
        tune("quadratic", "sgd[lr=0.1]", Protocol(budget=2, seeds=1), steps=5)


@pytest.mark.slow
def test_tune_command_exactly_the_same_trials_for_every_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["tune", "-t", "quadratic[dim=5,n=16,noise=0]", "-o", "sgd,adam,momentum",
                                       "--budget", "6", "--seeds", "2", "--steps", "20",
                                       "--threads", "1", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    tuning = json.loads((out / "tune.json").read_text())
    assert tuning["protocol"]["sampler"] == "sobol"  # the default, as AlgoPerf's
    for choice in tuning["choices"]:  # first round, extensions and refinement: all inside the budget
        assert choice["budget"] == 6 == choice["trials_used"] == len(choice["search_trials"])
        assert choice["first_round"] == 3
    assert result.output.count("edge: ") == sum(len(c["edges"]) for c in tuning["choices"])
    assert set(tuning["choices"][1]["point"]) == {"lr", "betas.0", "betas.1"}  # adam searched three axes
    assert {row["subject"] for row in tuning["significance"]} == {"sgd", "adam", "momentum"}
    assert sum(row["is_best"] for row in tuning["significance"]) == 1  # one leader ...
    assert not any(row["is_winner"] for row in tuning["significance"])  # ... which 2 seeds cannot establish
    bad = CliRunner().invoke(main, ["tune", "-t", "quadratic", "-o", "sgd", "--metric", "val_acc", "--steps", "2",
                                    "--budget", "1", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "declares train_loss" in bad.output


@pytest.mark.slow
def test_the_readmes_tune_example_runs(tmp_path: Path) -> None:
    # README.md's command as documented (adam's β₂ was extended to its limit and rounded to 1.0: exit 2),
    # with --threads 1 and fewer steps
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    command = 'optbench tune -t "quadratic[kappa=100]" --budget 8 --sampler grid --seeds 3 --steps 300'
    assert command in readme
    args = shlex.split(command)[1:-1] + ["30", "--threads", "1", "--out", str(tmp_path / "readme"), "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    tuning = json.loads((tmp_path / "readme" / "tune.json").read_text())
    assert len(tuning["choices"]) == 7 and {c["trials_used"] for c in tuning["choices"]} == {8}
    adam = next(c for c in tuning["choices"] if c["optimizer"] == "adam")
    assert adam["point"]["betas.1"] < 1.0


def test_every_phase_is_planned_for_the_workers_that_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the thread policy divides the cores among the workers: a phase planned for 1 would oversubscribe them
    import optbench.tune as tune_module

    planned: list[int] = []
    real_prepare = tune_module.prepare

    def recording_prepare(*args: object, workers: int = 1, **settings: object) -> object:
        planned.append(workers)
        return real_prepare(*args, **settings)  # run here, in this process: no pool is started for the test

    monkeypatch.setattr(tune_module, "prepare", recording_prepare)
    tune(QUADRATIC, "sgd", Protocol(budget=2, seeds=1), steps=20, out=tmp_path / "s",
         registry=_registry(), device="cpu", threads=1, workers=2)
    assert planned and set(planned) == {2}

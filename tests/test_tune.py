"""The tuning protocol: samplers over a search space, edges and their extension, selection by the task's
declared metric, the lr it picks on a quadratic whose answer is known, the store and tune.json."""

from __future__ import annotations

import json
import math
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


def test_selection_follows_the_declared_direction_not_the_name() -> None:
    metric = selection_metric(_Scored(), "auto", "scored")
    assert (metric.name, metric.direction) == ("score", "max")
    with pytest.raises(SpecError, match="declares train_loss, score"):
        selection_metric(_Scored(), "val_acc", "scored")
    entry = _registry().get("optimizer", "sgd")
    search = Search(optbench.spec.Spec("sgd"), entry, {}, dict(entry.search_space), budget=3)
    specs = search.specs([{"lr": 0.01}, {"lr": 0.1}, {"lr": 1.0}])
    trials = pd.DataFrame({"optimizer_label": [s.label for s in specs], "trial_id": ["a", "b", "c"],
                           "status": ["completed", "completed", "diverged"], "final_score": [1.0, 5.0, 9.0]})
    search.pick(trials, "final_score", maximize=True)
    assert search.best["point"] == {"lr": 0.1}  # the highest completed score; the diverged trial scores worst
    assert search.on_edges() == []
    search.pick(trials, "final_score", maximize=False)
    assert search.best["point"] == {"lr": 0.01} and search.on_edges() == [("lr", "low")]


def test_tune_finds_gd_best_lr_on_kappa_100_once_the_range_is_extended(tmp_path: Path) -> None:
    # Full-batch GD on a quadratic with curvatures in [1/κ, 1] converges fastest at lr = 2/(L+μ) ≈ 1.98 and
    # diverges above 2/L = 2. sgd's declared range ends at 1, so the first grid picks its upper edge; the
    # protocol must say so, extend the range a decade and search the new part.
    out = tmp_path / "tuned"
    result = tune(QUADRATIC, "sgd", Protocol(budget=7, seeds=2), steps=300, out=out, registry=_registry(),
                  device="cpu", threads=1)
    (choice,) = result["choices"]
    best = 2 / (1 + 1 / 100)
    assert abs(choice["lr"] - best) / best < 0.10, choice["lr"]
    task = optbench.create_task("quadratic", dim=10, kappa=100, noise=0, n=8)
    assert (choice["metric"], choice["direction"]) == (task.headline, task.declared_metrics()[task.headline].direction)
    (edge,) = choice["edges"]
    assert edge["hyperparameter"] == "lr" and edge["side"] == "high" and edge["value"] == 1.0 and edge["extended"]
    assert edge["to"] == [1e-4, 10.0] and choice["space"]["lr"]["high"] == 10.0
    assert choice["extra_trials"] == 7 and choice["trials_used"] == 14 == len(choice["search_trials"])
    assert "lr = 1 lay on the upper edge of [0.0001, 1]; extended to [0.0001, 10] (+7 trials)" in result["notes"][0]
    trials = optbench.load(out).trials
    assert len(trials) == 14 + 2 and set(trials["seed"]) == {0, 1, 2}  # every trial of every phase is kept
    stored = load_tuning(out)
    assert stored["choices"][0]["chosen"] == choice["chosen"] and stored["protocol"]["extend"] is True
    curve = sensitivity(trials, stored)
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "lr"].item() == choice["lr"]
    from optbench.report import build_report

    page = build_report([out], tmp_path / "tuned.html").read_text()
    assert "Tuning protocol: chosen settings and significance" in page and choice["chosen"] in page


def test_no_extend_reports_the_edge_and_keeps_the_budget(tmp_path: Path) -> None:
    result = tune(QUADRATIC, "sgd", Protocol(budget=4, seeds=1, extend=False), steps=100, out=tmp_path / "s",
                  registry=_registry(), device="cpu", threads=1)
    (choice,) = result["choices"]
    assert choice["lr"] == 1.0 and choice["trials_used"] == 4 and choice["extra_trials"] == 0
    assert choice["edges"][0]["extended"] is False and "extension is off" in result["notes"][0]


def test_tune_refuses_an_lr_it_is_meant_to_search() -> None:
    with pytest.raises(SpecError, match="lr is what tune searches"):
        tune("quadratic", "sgd[lr=0.1]", Protocol(budget=2, seeds=1), steps=5)


@pytest.mark.slow
def test_tune_command_same_budget_for_every_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["tune", "-t", "quadratic[dim=5,n=16,noise=0]", "-o", "sgd,adam,momentum",
                                       "--budget", "4", "--sampler", "sobol", "--seeds", "2", "--steps", "20",
                                       "--threads", "1", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    tuning = json.loads((out / "tune.json").read_text())
    for choice in tuning["choices"]:  # the same first-round budget; extensions counted, never hidden
        assert choice["budget"] == 4 and choice["trials_used"] == 4 + choice["extra_trials"]
        assert len(choice["search_trials"]) == choice["trials_used"]
    assert result.output.count("edge: ") == sum(len(c["edges"]) for c in tuning["choices"])
    assert set(tuning["choices"][1]["point"]) == {"lr", "betas.0", "betas.1"}  # adam searched three axes
    assert {row["subject"] for row in tuning["significance"]} == {"sgd", "adam", "momentum"}
    assert sum(row["is_best"] for row in tuning["significance"]) == 1
    bad = CliRunner().invoke(main, ["tune", "-t", "quadratic", "-o", "sgd", "--metric", "val_acc", "--steps", "2",
                                    "--budget", "1", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "declares train_loss" in bad.output


def test_every_phase_is_planned_for_the_workers_that_run_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the thread policy divides the cores among the workers: a phase planned for 1 would oversubscribe them
    import optbench.tune as tune_module

    planned: list[int] = []
    real_prepare = tune_module.prepare

    def recording_prepare(*args: object, workers: int = 1, **settings: object) -> object:
        planned.append(workers)
        return real_prepare(*args, **settings)  # run here, in this process: no pool is started for the test

    monkeypatch.setattr(tune_module, "prepare", recording_prepare)
    tune(QUADRATIC, "sgd", Protocol(budget=2, seeds=1, extend=False), steps=20, out=tmp_path / "s",
         registry=_registry(), device="cpu", threads=1, workers=2)
    assert planned and set(planned) == {2}

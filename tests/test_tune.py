"""The tuning protocol: samplers, the lr it picks on a quadratic whose answer is known, the store and tune.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.errors import SpecError
from optbench.tune import Protocol, learning_rates, load_tuning, sensitivity, tune


@pytest.mark.parametrize("sampler", ["grid", "sobol", "halton"])
def test_learning_rates_cover_the_range_on_a_log_scale(sampler: str) -> None:
    rates = learning_rates((1e-4, 1.0), 5, sampler, seed=0)
    assert len(rates) == 5 and all(1e-4 <= r <= 1.0 for r in rates)
    assert rates == learning_rates((1e-4, 1.0), 5, sampler, seed=0)  # reproducible
    if sampler == "grid":
        assert rates == [1e-4, 1e-3, 1e-2, 0.1, 1.0]
    else:  # quasi-random points spread over the decades instead of bunching
        assert len({math.floor(math.log10(r)) for r in rates}) >= 3


def test_protocol_rejects_bad_values() -> None:
    with pytest.raises(SpecError, match="--budget"):
        Protocol(budget=0)
    with pytest.raises(SpecError, match="--sampler"):
        Protocol(sampler="random")


def test_tune_picks_the_known_best_lr_on_a_quadratic(tmp_path: Path) -> None:
    # Full-batch GD on a quadratic with curvatures in [0.1, 1] converges fastest at lr = 2/(mu+L) ~ 1.8 and
    # diverges above 2/L = 2: of the grid 0.01, 0.1, 1, 10 the answer is 1 (10 diverges, smaller ones crawl).
    out = tmp_path / "tuned"
    result = tune("quadratic[dim=5,kappa=10,noise=0,n=16]", "sgd", Protocol(budget=4, seeds=2), steps=40,
                  out=out, registry=optbench.load_registry(plugin_dir=None), run_study=None)
    assert result["protocol"]["budget"] == 4
    (choice,) = result["choices"]
    assert choice["lr"] == 1.0 and choice["metric"] == "full_loss"
    trials = optbench.load(out).trials
    # every search trial and every final-seed trial stays in the store
    assert len(trials) == 4 + 2
    assert set(trials["seed"]) == {0, 1, 2}
    assert load_tuning(out)["choices"][0]["chosen"] == "sgd[lr=1.0]"
    curve = sensitivity(trials, load_tuning(out))
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "lr"].item() == 1.0
    assert curve["score"].idxmin() == curve.index[curve["chosen"]][0]
    # the report shows the protocol's outcome
    from optbench.report import build_report

    page = build_report([out], tmp_path / "tuned.html").read_text()
    assert "Tuning protocol: chosen settings and significance" in page and "sgd[lr=1.0]" in page


def test_tune_refuses_an_lr_it_is_meant_to_search() -> None:
    with pytest.raises(SpecError, match="lr is what tune searches"):
        tune("quadratic", "sgd[lr=0.1]", Protocol(budget=2, seeds=1), steps=5)


@pytest.mark.slow
def test_tune_command_same_budget_for_every_optimizer(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(main, ["tune", "-t", "quadratic[dim=5,n=16,noise=0]", "-o", "sgd,adam,momentum",
                                       "--budget", "3", "--sampler", "sobol", "--seeds", "2", "--steps", "20",
                                       "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    tuning = json.loads((out / "tune.json").read_text())
    assert [len(c["search_trials"]) for c in tuning["choices"]] == [3, 3, 3]
    assert {row["subject"] for row in tuning["significance"]} == {"sgd", "adam", "momentum"}
    assert sum(row["is_best"] for row in tuning["significance"]) == 1
    bad = CliRunner().invoke(main, ["tune", "-t", "quadratic", "-o", "sgd", "--metric", "val_acc", "--steps", "2",
                                    "--budget", "1", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "evaluates full_loss" in bad.output

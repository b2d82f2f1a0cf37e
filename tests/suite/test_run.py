"""`optbench suite run` and `suite score` end to end on a two-workload suite (seconds, not minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from optbench.cli import main
from optbench.store import Store
from optbench.suite.results import suite_results

MINI = {"name": "mini", "version": 1, "tau_max": 4.0,
        "protocol": {"budget": 4, "sampler": "grid", "select": "final", "seeds": 2, "search_seed": 0},
        "workloads": [
            {"id": "double-well", "task": "double-well", "batch_size": "full", "steps": 60, "what": "saddle"},
            {"id": "quad", "task": "quadratic[kappa=10,noise=0,dim=4,n=16]", "batch_size": "full", "steps": 60,
             "what": "bowl"}]}


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench.console import console

    monkeypatch.setattr(console, "width", 250)  # rich folds cells at 80 columns


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), terminal_width=250)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("suite")
    (folder / "mini.json").write_text(json.dumps(MINI))
    code, output = invoke("suite", "run", "--suite", str(folder / "mini.json"), "--optims", "sgd,sgd[lr=1e-5]",
                          "--out", str(folder / "store"), "--threads", "1")
    assert code == 0, output
    return folder / "store"


def test_run_writes_one_store_with_the_suite_record(store: Path) -> None:
    record = json.loads((store / "suite.json").read_text())
    assert record["suite"] == "mini" and record["final_seeds"] == [1, 2]
    assert set(record["workloads"]) == {"double-well", "quad"}
    sgd = record["workloads"]["quad"]["choices"]["sgd"]
    assert sgd["tuned"] and len(sgd["final_trials"]) == 2
    # the search budget is every search trial: first round, extensions and refinement
    assert len(sgd["search_trials"]) == sgd["tuning"]["trials_used"] == sgd["tuning"]["budget"] == 4
    given = record["workloads"]["quad"]["choices"]["sgd[lr=1e-05]"]
    assert not given["tuned"] and given["search_trials"] == [] and len(given["final_trials"]) == 2
    assert record["workloads"]["double-well"]["target"]["direction"] == "min"
    tuning = json.loads((store / "tune.json").read_text())
    assert len(tuning["choices"]) == 2 and {c["optimizer"] for c in tuning["choices"]} == {
        "sgd"}  # every workload's tuning, merged: what the report's tuning section reads


def test_steps_to_target_match_the_runners_for_declared_targets(store: Path) -> None:
    results = suite_results(store)
    trials = Store(store).read_trials().set_index("trial_id")
    assert len(results) == 2 * 2 * 2
    for row in results.itertuples():
        runner = trials.loc[row.trial_id, "steps_to_target"]
        assert (row.steps == runner) or (row.steps == float("inf") and runner != runner)  # NaN: never


def test_score_ranks_the_untuned_tiny_step_last(store: Path, tmp_path: Path) -> None:
    code, output = invoke("suite", "score", str(store), "--json", str(tmp_path / "score.json"))
    assert code == 0, output
    table = json.loads((tmp_path / "score.json").read_text())["table"]
    assert [r["optimizer"] for r in table][-1] == "sgd[lr=1e-05]"
    assert table[-1]["score"] == 0.0 and table[0]["score"] > 0
    assert "As given (run with a fixed lr" in output and "no baselines are shipped for mini" in output


def test_a_rerun_resumes_without_training(store: Path) -> None:
    before = Store(store).finished_ids()
    code, output = invoke("suite", "run", "--suite", str(store.parent / "mini.json"), "--optims", "sgd",
                          "--out", str(store), "--threads", "1")
    assert code == 0, output
    assert Store(store).finished_ids() == before


def test_score_of_a_non_suite_folder_is_a_one_line_error(tmp_path: Path) -> None:
    code, output = invoke("suite", "score", str(tmp_path))
    assert code == 2 and "is not a suite store" in output


def test_unknown_optimizer_fails_before_training(tmp_path: Path) -> None:
    (tmp_path / "mini.json").write_text(json.dumps(MINI))
    code, output = invoke("suite", "run", "--suite", str(tmp_path / "mini.json"), "--optims", "adamm",
                          "--out", str(tmp_path / "s"))
    assert code == 2 and "adamm" in output and "Traceback" not in output
    assert not (tmp_path / "s" / "trials").exists() or not any((tmp_path / "s" / "trials").iterdir())


@pytest.mark.parametrize("protocol, message", [({"budget": 0, "seeds": 2}, "budget must be >= 1"),
                                               ({"budget": 2, "seeds": 2, "sampler": "random"}, "sampler"),
                                               ({"budget": 2, "seeds": 2, "budgets": 3}, "unknown protocol key")])
def test_a_bad_protocol_fails_before_training(protocol: dict, message: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({**MINI, "protocol": protocol}))
    code, output = invoke("suite", "run", "--suite", str(tmp_path / "bad.json"), "--optims", "sgd",
                          "--out", str(tmp_path / "s"), "--threads", "1")
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "s" / "trials").exists() or not any((tmp_path / "s" / "trials").iterdir())


def test_lecture_v1_tunes_with_one_quasirandom_budget_for_everyone() -> None:
    from optbench.suite.definition import load_suite
    from optbench.suite.run import suite_protocol

    protocol = suite_protocol(load_suite("lecture-v1"), "rel_dist_to_opt")
    assert protocol.sampler == "sobol" and protocol.budget == 16 and protocol.metric == "rel_dist_to_opt"

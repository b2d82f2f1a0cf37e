"""The store: atomic trial files, reading back, manifest contents, and clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

import optbench
from optbench.errors import OptbenchError
from optbench.store import Store


def test_failed_write_leaves_no_partial_trial(tmp_path, monkeypatch) -> None:
    store = Store(tmp_path / "s").create()
    metrics = pd.DataFrame({"trial_id": ["t1"], "step": [0], "epoch": [0.0], "examples": [0], "time": [0.0],
                            "metric": ["x"], "value": [1.0]})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("optbench.store.pq.write_table", broken)
    with pytest.raises(OSError):
        store.write_trial({"trial_id": "t1", "status": "completed"}, metrics)
    assert store.finished_ids() == set() and not list((tmp_path / "s").rglob("*.tmp"))


def test_results_round_trip_and_curves(tmp_path) -> None:
    trials = optbench.run("saddle", "sgd,adam", steps=10, out=tmp_path / "r", seeds="0")
    res = optbench.load(tmp_path / "r")
    assert set(res.trials.trial_id) == set(trials.trial_id)
    curves = res.curves("train_loss")
    assert set(curves.optimizer) == {"sgd", "adam"} and len(curves) == 20
    env = res.manifest["runs"][0]["environment"]
    assert {"torch", "python", "cpu", "torch_threads", "git_commit", "platform"} <= set(env)
    assert res.manifest["runs"][0]["config"]["optimizers"] == ["adam", "sgd"]


def test_loading_a_folder_that_is_not_a_store(tmp_path) -> None:
    with pytest.raises(OptbenchError, match="no results store"):
        optbench.load(tmp_path / "nothing")

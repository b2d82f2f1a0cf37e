"""The shipped baselines: complete, compact, documented, and bit-for-bit reproducible on a small slice."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from optbench.suite.baselines import baselines_dir, load_baselines, load_curves, replay
from optbench.suite.definition import load_suite

SEVEN = ["adagrad", "adam", "adamw", "momentum", "radam", "rmsprop", "sgd"]
FOLDER = baselines_dir("lecture-v1")


def test_baselines_cover_every_builtin_on_every_workload_with_every_seed() -> None:
    suite = load_suite("lecture-v1")
    shipped = load_baselines("lecture-v1", suite.version)
    assert sorted(shipped["optimizer"].unique()) == SEVEN
    counts = shipped.groupby(["optimizer", "workload"])["seed"].nunique()
    assert len(counts) == len(SEVEN) * len(suite.workloads)
    assert (counts == suite.protocol["seeds"]).all()
    assert shipped["tuned"].all() and shipped["trial_id"].is_unique


def test_baselines_are_compact_and_say_how_when_and_on_what() -> None:
    size = sum(p.stat().st_size for p in Path(FOLDER).iterdir())
    assert size < 5 * 2**20
    manifest = json.loads((FOLDER / "manifest.json").read_text())
    assert "scripts/make_baselines.py" in manifest["command"]
    assert manifest["exported"] and manifest["environment"]["torch"] and manifest["environment"]["cpu"]
    assert "time_to_target" in manifest["machine_specific"] and "bit-for-bit" in manifest["reproducible"]
    assert manifest["runs"] and all("load_avg_start" in run for run in manifest["runs"])


def test_diverged_or_failed_trials_never_reach_a_target() -> None:
    shipped = load_baselines("lecture-v1")
    assert (shipped.loc[shipped["status"] != "completed", "steps"] == math.inf).all()


@pytest.mark.parametrize("workload, optimizer", [("double-well", "sgd"), ("quadratic-k100", "momentum")])
def test_a_shipped_slice_reproduces_bit_for_bit(workload: str, optimizer: str, tmp_path: Path) -> None:
    shipped = load_baselines("lecture-v1")
    row = shipped[(shipped["workload"] == workload) & (shipped["optimizer"] == optimizer)].sort_values("seed").iloc[0]
    rerun = replay(row, tmp_path / "replay", threads=1)
    assert set(rerun["trial_id"]) == {row["trial_id"]}, (
        "the rerun's trial id differs from the shipped one: the baselines were made by another code version or "
        "configuration; regenerate them with scripts/make_baselines.py")
    curves = load_curves("lecture-v1")
    shipped_curve = curves[curves["trial_id"] == row["trial_id"]]
    joined = shipped_curve.merge(rerun, on=["step", "metric"], suffixes=("_shipped", "_rerun"))
    assert len(joined) == len(shipped_curve) > 0
    pd.testing.assert_series_equal(joined["value_shipped"], joined["value_rerun"], check_names=False,
                                   check_exact=True)
    target = rerun[rerun["metric"] == row["target_metric"]]
    hit = target[target["value"] <= row["target_value"]]["step"]
    assert (float(hit.min()) if len(hit) else math.inf) == row["steps"]


def test_score_without_stores_is_the_builtins_leaderboard(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optbench.cli import main

    result = CliRunner().invoke(main, ["suite", "score", "--json", str(tmp_path / "board.json")])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "board.json").read_text())
    assert sorted(r["optimizer"] for r in board["table"]) == SEVEN
    assert all(0.0 <= r["score_min"] <= r["score_max"] <= 1.0 and 0.0 <= r["score"] <= 1.0 for r in board["table"])
    assert [r["rank"] for r in board["table"]] == sorted(r["rank"] for r in board["table"])

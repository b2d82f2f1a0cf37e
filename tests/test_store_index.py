"""The store's read index: a compacted copy that never changes what a load returns."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import optbench
from optbench import study as study_module
from optbench.store import Store


@pytest.fixture(autouse=True)
def index_every_study(monkeypatch: pytest.MonkeyPatch) -> None:
    """These stores are small: index them anyway (a real study indexes from INDEX_FROM_TRIALS trials)."""
    monkeypatch.setattr(study_module, "INDEX_FROM_TRIALS", 1)


def _run(path: Path, optims: str = "sgd,adam", seeds: str = "0-1", **settings: object) -> pd.DataFrame:
    return optbench.run("saddle,rosenbrock", optims, steps=6, seeds=seeds, out=path, threads=1, **settings)


def _file_by_file(path: Path, tmp_path: Path) -> optbench.store.Results:
    """The store read without its index: what every load must equal."""
    bare = tmp_path / "bare"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(path, bare, ignore=shutil.ignore_patterns("index"))
    return Store(bare).load()


def _assert_same(got: optbench.store.Results, want: optbench.store.Results) -> None:
    pd.testing.assert_frame_equal(got.trials, want.trials, check_like=True)
    pd.testing.assert_frame_equal(got.metrics, want.metrics)


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    path = tmp_path / "finished"
    _run(path)
    return path


def test_small_studies_leave_no_index_and_big_ones_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study_module, "INDEX_FROM_TRIALS", 9)
    _run(tmp_path / "small")  # 8 trials
    assert not (tmp_path / "small" / "index").exists()
    _run(tmp_path / "small", seeds="0-2")  # 12
    assert (tmp_path / "small" / "index" / "stamps.json").is_file()


def test_a_finished_study_leaves_an_index_that_loads_like_its_files(finished: Path, tmp_path: Path) -> None:
    stamps = json.loads((finished / "index" / "stamps.json").read_text())
    assert sorted(stamps) == sorted(p.stem for p in (finished / "trials").glob("*.parquet"))
    got = Store(finished).load()
    assert len(got.trials) == 8 and not got.metrics.empty
    _assert_same(got, _file_by_file(finished, tmp_path))


def test_categorical_load_holds_the_same_values(finished: Path) -> None:
    plain, categorical = Store(finished).load(), Store(finished).load(categorical=True)
    assert isinstance(categorical.metrics["trial_id"].dtype, pd.CategoricalDtype)
    restored = categorical.metrics.astype({c: plain.metrics[c].dtype for c in ("trial_id", "metric")})
    pd.testing.assert_frame_equal(restored, plain.metrics)


def test_trials_finished_after_the_index_are_read_from_their_files(tmp_path: Path) -> None:
    path = tmp_path / "store"
    _run(path)
    indexed = json.loads((path / "index" / "stamps.json").read_text())
    store = Store(path).create()  # a later run killed before its end: new trials, an old index
    extra = _run(tmp_path / "other", optims="momentum")
    for trial_id in extra["trial_id"]:
        for folder in ("metrics", "trials"):
            shutil.copy(tmp_path / "other" / folder / f"{trial_id}.parquet", path / folder)
    store.release()
    got = Store(path).load()
    assert len(got.trials) == 12 and set(extra["trial_id"]) <= set(got.trials["trial_id"])
    assert set(indexed) < set(got.trials["trial_id"])
    _assert_same(got, _file_by_file(path, tmp_path))


def test_a_rerun_trial_and_a_removed_trial_are_not_taken_from_the_index(tmp_path: Path) -> None:
    path = tmp_path / "store"
    trials = _run(path)
    first, second = sorted(trials["trial_id"])[:2]
    (path / "trials" / f"{first}.parquet").unlink()  # e.g. quarantined: no longer finished
    rewritten = path / "metrics" / f"{second}.parquet"
    frame = pd.read_parquet(rewritten)
    frame["value"] = frame["value"] + 1.0  # what a --force rerun with other numbers would write
    frame.to_parquet(rewritten)
    got = Store(path).load()
    assert first not in set(got.trials["trial_id"]) and first not in set(got.metrics["trial_id"])
    _assert_same(got, _file_by_file(path, tmp_path))
    shifted = got.metrics[got.metrics["trial_id"] == second]["value"]
    assert (shifted == frame["value"].to_numpy()).all()


@pytest.mark.parametrize("damage", ["garbage stamps", "garbage trials", "missing metrics", "stale stamps"])
def test_a_damaged_or_half_written_index_changes_nothing(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "store"
    _run(path, seeds="0")
    old_stamps = (path / "index" / "stamps.json").read_bytes()
    os.utime(next((path / "trials").glob("*.parquet")))  # one trial's file newer than the index
    Store(path).compact()
    index = path / "index"
    if damage == "garbage stamps":
        (index / "stamps.json").write_text("{not json")
    elif damage == "garbage trials":
        (index / "trials.parquet").write_bytes(b"PAR1 not really")
    elif damage == "missing metrics":
        (index / "metrics.parquet").unlink()
    else:  # killed between writing the new tables and the new stamps
        (index / "stamps.json").write_bytes(old_stamps)
    _assert_same(Store(path).load(), _file_by_file(path, tmp_path))


def test_a_rerun_that_runs_nothing_keeps_the_index_and_a_damaged_one_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "store"
    _run(path, seeds="0")
    index = path / "index" / "metrics.parquet"
    written = index.stat().st_mtime_ns
    _run(path, seeds="0")  # every trial finished: nothing runs, nothing is rewritten
    assert index.stat().st_mtime_ns == written
    index.write_bytes(b"not parquet")
    _run(path, seeds="0")  # same stamps, unreadable index: the compaction replaces it
    assert Store(path)._tables()[1] is not None and index.read_bytes()[:4] == b"PAR1"
    _assert_same(Store(path).load(), _file_by_file(path, tmp_path))

"""optbench export: every format reads back as what ``optbench.load`` and the judge give; bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import optbench
from optbench.errors import OptbenchError
from optbench.export import TABLES, export


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "store"
    # lr=1.5 diverges on the quadratic (inf steps to target); two seeds give medians and spreads
    optbench.run("quadratic[kappa=10]", "sgd[lr=0.05|1.5]", seeds="0-1", steps=40, out=path, threads=1)
    return path


def _expected(store: Path) -> dict[str, pd.DataFrame]:
    results = optbench.load(store)
    verdicts = results.verdicts()
    return {"trials": results.trials, "curves": results.metrics, "verdict_trials": verdicts.trials,
            "verdict_configs": verdicts.configs,
            "verdict_tasks": verdicts.tasks.drop(columns=["headline_vs_leader", "target_vs_leader"])}


def _read(path: Path, fmt: str, like: pd.DataFrame) -> pd.DataFrame:
    """What a user reads with pandas; CSV told which columns are text (as a reader's schema would)."""
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    text = {c: str for c in like if pd.api.types.is_string_dtype(like[c]) and like[c].notna().any()}
    return pd.read_csv(path, dtype=text, keep_default_na=True)


def _missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """A text file has one spelling of "missing" where pandas has two (None, NaN): compare them as one."""
    return frame.astype(object).where(frame.notna(), None)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_reads_back_as_load_and_the_judge_give(store: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "export"
    paths = export(store, fmt, out)
    assert {p.name for p in paths} == {f"{t}.{fmt}" for t in TABLES} | {"declarations.json"}
    expected = _expected(store)
    assert (expected["verdict_trials"]["steps_to_target"] == float("inf")).any()  # "never" survives the trip
    for name, frame in expected.items():
        read = _read(out / f"{name}.{fmt}", fmt, frame)
        assert list(read.columns) == list(frame.columns), name
        pd.testing.assert_frame_equal(_missing_as_none(read), _missing_as_none(frame), check_dtype=False,
                                      obj=f"{name}.{fmt}")


def test_declarations_ship_alongside(store: Path, tmp_path: Path) -> None:
    export(store, "parquet", tmp_path / "out")
    declared = json.loads((tmp_path / "out" / "declarations.json").read_text())
    stored = optbench.load(store).declarations()
    assert set(declared) == set(stored)
    for key, decl in stored.items():
        assert declared[key]["headline"] == decl.headline
        assert {m["name"]: m["direction"] for m in declared[key]["metrics"]} == \
            {m.name: m.direction for m in decl.metrics.values()}


def test_a_folder_of_other_files_is_refused_and_kept(store: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    with pytest.raises(OptbenchError, match="not an export"):
        export(store, "csv", tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optbench", "export", *args], capture_output=True, text=True)


@pytest.mark.parametrize("case", ["format", "store", "unwritable"])
def test_bad_input_is_one_line_and_exit_2(store: Path, tmp_path: Path, case: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = {"format": [str(store), "--format", "xlsx", "--out", str(tmp_path / "o")],
            "store": [str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
            "unwritable": [str(store), "--out", str(blocker / "sub")]}[case]
    done = _cli(*args)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
    assert not (tmp_path / "o").exists()


def test_cli_writes_the_folder(store: Path, tmp_path: Path) -> None:
    done = _cli(str(store), "--format", "jsonl", "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(
        [f"{t}.jsonl" for t in TABLES] + ["declarations.json"])

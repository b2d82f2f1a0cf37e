"""`suite score` on the phoneme workloads: a deliberately bad optimizer (sgd, lr 1e-5, untuned) ranks last
against the shipped baselines, and the adam family is near the top; the baselines are not rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from optbench.cli import main

ADAM_FAMILY = {"adam", "adamw", "radam"}


@pytest.mark.slow
def test_sgd_with_a_tiny_step_ranks_last_and_adams_near_the_top(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["suite", "run", "--optims", "sgd[lr=1e-5]", "--workloads", "phoneme-*",
                                  "--out", str(tmp_path / "bad"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["suite", "score", str(tmp_path / "bad"), "--workloads", "phoneme-*",
                                  "--json", str(tmp_path / "score.json")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "score.json").read_text())["table"]
    names = [row["optimizer"] for row in table]
    assert len(names) == 8 and names[-1] == "sgd[lr=1e-05]" and table[-1]["score"] == 0.0
    # run as given, it is ranked on its own table (AlgoPerf's separate track), and scores below every tuned one
    assert table[-1]["track"] == "as given" and all(row["track"] == "tuned" for row in table[:-1])
    assert table[-1]["score"] < min(row["score"] for row in table[:-1])
    assert ADAM_FAMILY & set(names[:3]), names
    assert min(names.index(n) for n in ADAM_FAMILY) < names.index("sgd")

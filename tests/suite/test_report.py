"""``optbench suite report``: a suite store's final trials next to the shipped baselines, in one page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import optbench
from optbench.cli import main


@pytest.mark.slow  # a one-workload suite run (~20 s) and a report
def test_the_report_shows_my_final_trials_next_to_the_baselines(tmp_path: Path) -> None:
    store, page = tmp_path / "mine", tmp_path / "report.html"
    run = CliRunner().invoke(main, ["suite", "run", "--optims", "sgd", "--workloads", "double-well",
                                    "--out", str(store), "--threads", "1"])
    assert run.exit_code == 0, run.output
    result = CliRunner().invoke(main, ["suite", "report", str(store), "--out", str(page)])
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", page.read_text(), flags=re.S)))
    assert "mine vs the lecture-v1 baselines" in text
    assert "mine: sgd[lr=" in text and "baselines: momentum[" in text  # both sides, labelled
    assert "Task double-well" in text and "Task rosenbrock" not in text  # only the workloads that were run
    assert len(optbench.load(store).trials) > 3  # the store holds the search trials too ...
    assert "one seed: no noise estimate" not in text  # ... but only the fresh-seed finals are compared
    assert set(tmp_path.iterdir()) == {store, page}  # the baselines' temporary store is gone

"""The rendered page: escaping, well-formed HTML, every applicable section, no external references."""

from __future__ import annotations

import re
from pathlib import Path

import html5lib
import pytest
from click.testing import CliRunner

from optbench.cli import main
from optbench.errors import OptbenchError
from optbench.report import build_report, newest_store

INJECTION = "<script>alert(1)</script>"  # the plugin optimizer name in conftest.py


def test_hostile_optimizer_name_renders_as_text(hostile_report: Path):
    html = hostile_report.read_text()
    assert INJECTION not in html  # never raw markup anywhere, figures included
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the only script element is the page's own sorting script
    assert len(re.findall(r"<script\b", html)) == 1


def test_page_is_well_formed_html5(hostile_report: Path):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    document = parser.parse(hostile_report.read_text())
    assert document.find(".//title") is not None


def test_page_has_every_applicable_section(hostile_report: Path):
    html = hostile_report.read_text()
    # (the schedules figure is left out when every schedule is constant: the labels already say so; the
    # performance profile needs two tasks with a target, and the saddle declares none)
    for heading in ("What was run, when, on what", "Leaderboard", "Convergence", "Trajectories on the surface",
                    "Batch size", "Learning-rate sensitivity", "Summary"):
        assert heading in html, heading
    assert "★ leader" in html and "performance profile" not in html
    assert html.count('<svg class="figure"') >= 6
    assert "mathdefault" not in html  # log-axis ticks are plain numbers, not unrendered math text


def test_page_is_self_contained(hostile_report: Path):
    html = hostile_report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "default-src 'none'" in html


def test_two_stores_side_by_side_label_each_trial(hostile_store: Path, tmp_path: Path):
    out = build_report([hostile_store, hostile_store], tmp_path / "both.html")
    html = out.read_text()
    assert "2 stores" in html
    assert html.count("(2): sgd[lr=0.05]") >= 1  # the second copy of the same folder gets its own label


def test_cli_report_and_user_errors(hostile_store: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["report", str(hostile_store), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").stat().st_size > 10_000
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no results store" in missing.output
    with pytest.raises(OptbenchError, match="no results store under"):
        newest_store(tmp_path / "empty")


def test_run_with_report_flag_writes_into_reports(tmp_path: Path):
    result = CliRunner().invoke(main, ["run", "--tasks", "saddle", "--optims", "sgd,adam", "--steps", "5",
                                       "--out", str(tmp_path / "store"), "--device", "cpu", "-q", "--report"])
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "reports").glob("*.html"))  # the test runs in tmp_path (conftest)
    assert [p.name for p in written] == ["store.html"]
    assert "Trajectories on the surface" in written[0].read_text()


def test_the_tuning_caption_states_the_search_trials_actually_used() -> None:
    # it said "Every optimizer had the same search budget" when adam had used 16 trials and sgd 8
    from types import SimpleNamespace

    from optbench.report.page import _search_trials

    def data(*counts: tuple[str, int]) -> SimpleNamespace:
        return SimpleNamespace(tuning=[("s", {"choices": [{"optimizer": o, "search_trials": ["t"] * n}
                                                          for o, n in counts]})])

    assert _search_trials(data(("sgd", 8), ("adam", 8))) == (
        "Every optimizer used the same number of search trials (8 per task)")
    unequal = _search_trials(data(("sgd", 8), ("adam", 16), ("adam", 12)))
    assert "not an equal budget" in unequal and "sgd 8" in unequal and "adam 12–16" in unequal

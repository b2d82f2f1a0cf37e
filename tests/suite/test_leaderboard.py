"""The suite report as a researcher reads it, in a real headless Chromium at 1,400 px: a store made with a
plugin optimizer, reported *without* the plugin (the store is the submission), whose leaderboard is
``suite score --json``'s table, with no horizontal overflow, no overlapping tick labels and no temporary
path; two users' stores side by side; and ``--by``/``--tau-max`` named and checked."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optbench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install 'optbench[test]'")

PLUGIN = '''
import torch
import optbench
from optbench.registry import Range


class SignSGD(torch.optim.Optimizer):
    """θ ← θ − η·sign(g)."""

    def __init__(self, params, lr=1e-3):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


SIGNSGD = optbench.optimizer("signsgd", SignSGD, "sign descent", search_space={"lr": Range(1e-4, 1e-1)})
'''

# Pairs of text boxes (tick labels, titles, legends) overlapping by more than 1 px each way, per figure.
OVERLAPS_JS = """() => {
  const out = [];
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  document.querySelectorAll("svg.figure").forEach((svg, f) => {
    const boxes = Array.from(svg.querySelectorAll("text")).map(t => [t.getBoundingClientRect(), t.textContent])
      .filter(([r]) => r.width > 0 && r.height > 0);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++)
        if (hit(boxes[i][0], boxes[j][0])) out.push([f, boxes[i][1], boxes[j][1]]);
  });
  return out;
}"""

TOP_TABLE_JS = """() => Array.from(document.querySelectorAll("#leaderboard table")[0].querySelectorAll("tbody tr"))
  .map(tr => Array.from(tr.querySelectorAll("td")).map(td => td.textContent.trim()))"""


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def submission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A suite store of one plugin optimizer, tuned on the double-well (its symlog axis), the plugin then
    deleted: what another user receives."""
    root = tmp_path_factory.mktemp("submission")
    (root / "signsgd.py").write_text(PLUGIN)
    cwd = Path.cwd()
    os.chdir(root)  # paths as a user types them, relative
    try:
        _invoke("suite", "run", "--optims", "signsgd", "--workloads", "double-well", "--out", "results/signsgd-run",
                "--threads", "1", "--plugin", "signsgd.py")
    finally:
        os.chdir(cwd)
    (root / "signsgd.py").unlink()
    return root / "results" / "signsgd-run"


@pytest.mark.slow  # a one-workload suite run (~20 s on an idle core) and two reports
@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no chromium: run scripts/setup.sh test")
def test_the_suite_page_in_chromium_at_1400_px(submission: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(submission.parents[1])  # paths as a user types them, relative
    given = "results/signsgd-run"
    _invoke("suite", "score", given, "--json", str(tmp_path / "score.json"))
    page = tmp_path / "page.html"
    _invoke("suite", "report", given, "--out", str(page))
    html = page.read_text()
    assert "optbench-suite-report-" not in html and str(submission.parents[1]) not in html
    assert given in html  # the store's path as given
    scored = json.loads((tmp_path / "score.json").read_text())
    expected = [[str(r["rank"]), r["optimizer"], f"{r['score']:.3f}", f"{r['score_min']:.3f}–{r['score_max']:.3f}",
                 f"{r['reached']}/{r['workloads']}", r["source"]] for r in scored["table"]]
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        view = browser.new_page(viewport={"width": 1400, "height": 1000})
        view.goto(page.as_uri(), wait_until="load")
        assert view.evaluate(TOP_TABLE_JS) == expected
        assert view.evaluate("document.documentElement.scrollWidth") <= 1400
        assert view.evaluate(OVERLAPS_JS) == []
        mine = view.evaluate("""() => Array.from(document.querySelectorAll("#leaderboard tr.mine"))
                                .map(tr => tr.querySelectorAll("td")[1].textContent.trim())""")
        assert "signsgd" in mine and "adam" not in mine  # the user's rows, and only those, highlighted
        text = view.inner_text("body")
        browser.close()
    assert re.search(r"signsgd scores \d\.\d{3} .*rank \d of 8 on the tuned leaderboard", text)
    assert "— [—, —]" not in text  # the fresh seeds' verdict is in the tuning table
    assert "Run started" not in text  # the run history is folded (details closed)


@pytest.mark.slow
def test_two_users_stores_side_by_side_and_a_submission_needs_no_plugin(submission: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(submission, other)
    page = tmp_path / "both.html"
    output = _invoke("suite", "report", str(submission), str(other), "--out", str(page), "--by", "time")
    assert str(page) in output
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ", page.read_text(), flags=re.S))
    assert "signsgd-run + other vs the lecture-v1 baselines" in text
    assert "Median training time to target" in text and "machine-specific" in text


@pytest.mark.parametrize(("args", "message"), [(["--tau-max", "1"], "--tau-max must be a number > 1"),
                                               (["--tau-max", "nan"], "--tau-max must be a number > 1"),
                                               (["--by", "examples"], "'examples' is not one of")])
def test_bad_scoring_options_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["suite", "score", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def _trials(rows: list[tuple[str, bool, str, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["optimizer", "tuned", "workload", "seed", "steps", "time_to_target"]).assign(
        status="completed", source="test")


def test_as_given_optimizers_are_ranked_apart_against_the_fastest_of_both_tracks() -> None:
    from optbench.suite.scoring import _tracks

    rows = [("a", True, "w", s, 10.0, 1.0) for s in (1, 2, 3)] + [("b", True, "w", s, 20.0, 0.5) for s in (1, 2, 3)]
    rows += [("slow[lr=1e-5]", False, "w", s, 30.0, 3.0) for s in (1, 2, 3)]
    table = _tracks(_trials(rows), 4.0, "steps").set_index("optimizer")
    assert table.loc["a", "rank"] == 1 and table.loc["b", "rank"] == 2  # the tuned board is unchanged by it ...
    assert table.loc["slow[lr=1e-5]", "track"] == "as given" and table.loc["slow[lr=1e-5]", "rank"] == 1
    assert table.loc["slow[lr=1e-5]", "score"] == pytest.approx((4 - 3) / 3)  # ... which is 3x the fastest tuned
    by_time = _tracks(_trials(rows), 4.0, "time_to_target").set_index("optimizer")
    assert by_time.loc["b", "rank"] == 1 and by_time.loc["a", "score"] == pytest.approx((4 - 2) / 3)
    narrow = _tracks(_trials(rows), 2.0, "steps").set_index("optimizer")
    assert narrow.loc["b", "score"] == 0.0  # 2x the fastest: outside τ = 1..2

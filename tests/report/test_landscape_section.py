"""The report's loss-landscape section: drawn next to the diagnosis for the README's main job with
``--diagnose landscape=true`` (a small phoneme MLP on a generated corpus), checked in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.report.data import load_stores
from optbench.report.landscape import landscape_section
from optbench.store import Store, load


def test_no_landscape_documents_no_section(tmp_path: Path) -> None:
    out = tmp_path / "store"
    optbench.run("saddle[x0=0.5,y0=0.01]", "sgd", steps=5, seeds="0", out=out, device="cpu")
    data = load_stores([out])
    assert landscape_section(data, data.tasks[0]) is None


def test_a_stored_landscape_is_drawn_with_named_directions(tmp_path: Path) -> None:
    out = tmp_path / "store"
    optbench.run("saddle[x0=0.5,y0=0.01]", "sgd", steps=5, seeds="0-1", out=out, device="cpu",
                 diagnose="landscape=true")
    data = load_stores([out])
    section = landscape_section(data, data.tasks[0])
    assert section is not None and len(section["figures"]) == 2
    svg = section["figures"][0]["svg"]
    for text in ("t along λ_max eigenvector", "t along λ_min eigenvector", "coordinate axis theta[0]",
                 "(d) init → final", "Taylor model"):
        assert text in svg, text
    assert "seed 0" in section["figures"][0]["caption"] and "seed 1" in section["figures"][1]["caption"]


@pytest.fixture(scope="module")
def main_job_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main job (phoneme, adam vs rmsprop, --report) small, with the landscape option."""
    from optbench.tasks.phoneme import corpus as C
    from optbench.tasks.phoneme.data import ENV_VAR

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("main-job")
    corpus = C.generate(root / "corpus", C.CorpusSettings(utterances=40, seed=1))
    patch = pytest.MonkeyPatch()
    patch.setenv(ENV_VAR, str(corpus))
    try:
        runner = CliRunner()
        out = root / "store"
        run = runner.invoke(main, ["run", "--tasks", "phoneme[preset=simple,hidden=32]", "--optims", "adam,rmsprop",
                                   "--steps", "30", "--seeds", "0", "--threads", "1", "--out", str(out),
                                   "--diagnose", "examples=512,eps_steps=2,trace_probes=4,landscape=true"])
        assert run.exit_code == 0, run.output
        trial_id = load(out).trials["trial_id"].iloc[0]
        sliced = runner.invoke(main, ["landscape", str(out), trial_id, "--threads", "1",
                                      "--settings", "examples=512,grid=11,snapshots=10"])
        assert sliced.exit_code == 0, sliced.output
        assert set(Store(out).read_landscapes()) == set(load(out).trials["trial_id"])
        report = root / "report.html"
        made = runner.invoke(main, ["report", str(out), "--out", str(report)])
        assert made.exit_code == 0, made.output
    finally:
        patch.undo()
    return report


def test_the_main_job_report_shows_the_slices_next_to_the_diagnosis_in_chromium(main_job_report: Path) -> None:
    from test_browser import CHROMIUM, OVERLAPS_JS, SCREENSHOT_DIR, _launch

    if CHROMIUM is None:
        pytest.skip("no chromium: run scripts/setup.sh test")
    playwright_sync = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []  # console errors and warnings, script errors
    with playwright_sync.sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.goto(main_job_report.as_uri(), wait_until="load")
        headings = page.locator("section h3").all_inner_texts()
        assert "Loss landscape" in headings
        assert headings.index("Loss landscape") == headings.index("Diagnosis") + 1  # right after the diagnosis
        figures = page.locator("figure.landscape svg.figure")
        assert figures.count() == 2  # adam and rmsprop
        texts = page.locator("figure.landscape svg.figure text").evaluate_all("els => els.map(e => e.textContent)")
        joined = " ".join(texts)
        for name in ("t along λ_max eigenvector", "t along λ_min eigenvector", "filter-normalised random direction 1",
                     "PC1", "α (distance / ‖Δθ‖)", "(d) init → final"):
            assert name in joined, name  # the trajectory plane: only the trial `optbench landscape` sliced
        assert figures.first.bounding_box()["width"] > 800
        overlaps = page.evaluate(OVERLAPS_JS)
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.locator("figure.landscape").first.screenshot(path=str(SCREENSHOT_DIR / "report-landscape.png"))
        browser.close()
    assert overlaps == []
    assert problems == []

"""The report build and a no-op rerun, each against reading the same store (the floor they cannot beat):
groups ``report`` and ``no-op rerun`` read as a multiple of ``optbench.load``. The full-size figure
(1,000 trials in a fresh interpreter, against another checkout) is benchmarks/report_1000_trials.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_1000_trials import synthetic_store

import optbench
from optbench.report import build_report
from optbench.store import Store

SEEDS = 1
REPORT = "report: synthetic store, 4 tasks × 5 optimizers × 5 lr × 1 seed (100 trials), 100 steps"
RERUN = "no-op rerun: quadratic, sgd + adam, 2 seeds, 50 steps (every trial already in the store)"
STUDY = {"tasks": "quadratic", "optims": "sgd,adam", "seeds": "0-1", "steps": 50, "threads": 1}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_store(tmp_path_factory.mktemp("report"), steps=100, seeds=SEEDS)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rerun") / "store"
    optbench.run(STUDY["tasks"], STUDY["optims"], seeds=STUDY["seeds"], steps=STUDY["steps"], threads=1, out=out)
    return out


@pytest.mark.benchmark(group=REPORT)
def test_report_baseline_load(benchmark, synthetic: Path) -> None:
    results = benchmark.pedantic(lambda: Store(synthetic).load(categorical=True), rounds=3, warmup_rounds=1)
    assert len(results.trials) == 100 * SEEDS


@pytest.mark.benchmark(group=REPORT)
def test_report_build(benchmark, synthetic: Path, tmp_path: Path) -> None:
    page = benchmark.pedantic(build_report, args=([synthetic], tmp_path / "page.html"), rounds=3, warmup_rounds=1)
    assert Path(page).stat().st_size > 0


@pytest.mark.benchmark(group=RERUN)
def test_rerun_baseline_load(benchmark, finished: Path) -> None:
    benchmark.pedantic(optbench.load, args=(finished,), rounds=5, warmup_rounds=1)


@pytest.mark.benchmark(group=RERUN)
def test_noop_rerun(benchmark, finished: Path) -> None:
    before = Store(finished).finished_ids()

    def rerun() -> None:
        optbench.run(STUDY["tasks"], STUDY["optims"], seeds=STUDY["seeds"], steps=STUDY["steps"], threads=1,
                     out=finished)

    benchmark.pedantic(rerun, rounds=5, warmup_rounds=1)
    assert Store(finished).finished_ids() == before  # nothing was trained again

"""A small real store shared by the report tests: two tasks, an lr grid, two batch sizes, two seeds and a
plugin optimizer whose name is an HTML injection attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

import optbench

INJECTION = "<script>alert(1)</script>"

PLUGIN = f'''
import torch
from optbench import optimizer

evil = optimizer({INJECTION!r}, lambda params, lr=0.05: torch.optim.SGD(params, lr=lr),
                 "plain SGD under a hostile name")
'''


@pytest.fixture(scope="session")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-store")
    plugin = root / "hostile.py"
    plugin.write_text(PLUGIN)
    trials = optbench.run("saddle,quadratic[dim=4]", f"sgd[lr=0.01|0.05],adam[lr=0.05],{INJECTION}",
                          batch_sizes="16,full", seeds="0-1", steps=30, out=root / "store", device="cpu",
                          plugins=[plugin], save_checkpoints=False)
    assert INJECTION in set(trials["optimizer"])
    return Path(trials.attrs["store"])


@pytest.fixture(scope="session")
def hostile_report(hostile_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from optbench.report import build_report

    return build_report([hostile_store], tmp_path_factory.mktemp("report") / "report.html")


@pytest.fixture(scope="session")
def built_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reports of the synthetic CONTRACT.md-layout stores (tests/report/builders.py), by name."""
    import builders

    from optbench.report import build_report

    root = tmp_path_factory.mktemp("built")
    makers = {"score": builders.score_store, "one_seed": lambda p: builders.score_store(p, seeds=1),
              "phoneme": builders.phoneme_store, "kappa": builders.kappa_store, "saddle": builders.saddle_store}
    stores = {name: make(root / name) for name, make in makers.items()}
    reports = {name: build_report([store], root / f"{name}.html") for name, store in stores.items()}
    reports.update({f"{name}_store": store for name, store in stores.items()})
    return reports

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

"""pytest-benchmark cases for the figures the README quotes: each group holds a baseline and what it is
compared with, measured in the same session, so the ratio (the "(1.0)" columns of pytest-benchmark's
table) is what is read, not the seconds. The load average before and after each case is recorded in its
``extra_info`` (the machine may be shared), torch runs on one thread.

    python -m pytest benchmarks/ --benchmark-enable --benchmark-json=bench.json        # keep a record
    python -m pytest benchmarks/ --benchmark-enable --benchmark-autosave               # .benchmarks/ history
    python -m pytest benchmarks/ --benchmark-enable --benchmark-compare                # against the last one

Not collected by the README's test command (pyproject's ``testpaths`` is ``tests``); the standalone
scripts beside these files (``python benchmarks/<name>.py``) measure the same things at full size.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_load(request: pytest.FixtureRequest) -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the ratios are per core; a busy machine's cores are not ours
    bench = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    if bench is not None:
        bench.extra_info["load_avg_before"] = os.getloadavg()[0]
        bench.extra_info["cpu_count"] = os.cpu_count()
    yield
    if bench is not None:
        bench.extra_info["load_avg_after"] = os.getloadavg()[0]
    torch.set_num_threads(threads)

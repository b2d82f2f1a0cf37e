"""Shared fixtures: every test runs in its own working directory so ./plugins and ./results never leak."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("OPTBENCH_CACHE", str(REPO / ".cache-tests"))

"""The console at 80 columns (a default terminal, or piped output): no header or label word split, whole ETAs."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from optbench import console as C


def _console(width: int) -> Console:
    return Console(width=width, file=io.StringIO(), force_terminal=False, color_system=None)


def _trials(optimizers: list[str]) -> pd.DataFrame:
    rows = []
    for optimizer in optimizers:
        for seed in range(3):
            rows.append({"trial_id": f"{optimizer}-{seed}", "task_key": "k", "seed": seed,
                         "task_label": "quadratic[kappa=1000,noise=0.01]", "optimizer_label": optimizer,
                         "schedule_label": "constant", "batch_size": "32",
                         "status": "completed", "headline_metric": "suboptimality", "headline_direction": "min",
                         "target_metric": "suboptimality", "target_value": 1e-3,
                         "headline_final": 0.123456 * (seed + 1), "steps_to_target": 100.0 + seed,
                         "steps_per_second": 1234.5 + seed})
    return pd.DataFrame(rows)


def _words(table) -> set[str]:
    cells = [c for column in table.columns for c in (column.header, *column.cells)]
    return {word for cell in cells for word in C._plain(cell).split() if len(word) > 1}


@pytest.mark.parametrize("width", [80, 100, 60])
@pytest.mark.parametrize("optimizers", [["adam", "rmsprop"], ["adam[lr=0.001,betas=0.9/0.98]", "momentum"]])
def test_the_summary_table_splits_no_word(width: int, optimizers: list[str], monkeypatch) -> None:
    out = _console(width)
    monkeypatch.setattr(C, "console", out)
    table = C.summary_table(_trials(optimizers))
    out.print(table)
    text = out.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    missing = sorted(w for w in _words(table) if w not in text)
    assert not missing, f"split at {width} columns: {missing}\n{text}"


def test_a_wide_terminal_keeps_the_boxed_table(monkeypatch) -> None:
    out = _console(200)
    monkeypatch.setattr(C, "console", out)
    out.print(C.summary_table(_trials(["adam"])))
    assert "final headline metric" in out.file.getvalue() and "┃" in out.file.getvalue()


def test_progress_bars_show_the_whole_eta_at_80_columns() -> None:
    out = _console(80)
    progress = Progress(*C._columns(80), console=out)
    progress.add_task(escape("quadratic[kappa=1000,noise=0.01] · adam[lr=0.001,betas=0.9/0.98] · warmup-cosine · "
                             "bs=16 · seed=2"), total=120000, completed=4000)
    out.print(progress.make_tasks_table(progress.tasks))
    line = out.file.getvalue().splitlines()[0]
    assert len(line) <= 80 and re.search(r"eta (-:--:--|\d+:\d\d:\d\d)$", line.rstrip()), line
    assert "4000/120000" in line

"""What ``optbench suite list`` prints: read from data alone (no task built), yet the targets a run resolves."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import asdict

from optbench.registry import load_registry
from optbench.suite.cli_view import shipped_targets
from optbench.suite.definition import Workload, load_suite


def test_listed_targets_are_the_ones_a_run_resolves() -> None:
    suite, registry = load_suite("lecture-v1"), load_registry(plugin_dir=None, entry_points=False)
    listed = shipped_targets(suite)
    assert set(listed) == {w.id for w in suite.workloads}
    for workload in suite.workloads:
        assert listed[workload.id] == asdict(workload.resolve_target(registry)), workload.id


def test_a_changed_workload_is_not_listed_with_its_old_target() -> None:
    suite = load_suite("lecture-v1")
    changed = Workload(**{**suite.workloads[0].__dict__, "steps": 7})
    edited = type(suite)(suite.name, suite.version, suite.description, suite.protocol, suite.tau_max,
                         (changed, *suite.workloads[1:]))
    assert changed.id not in shipped_targets(edited) and suite.workloads[1].id in shipped_targets(edited)


def test_suite_list_builds_no_task_and_imports_no_torch() -> None:
    code = ("import sys\nfrom optbench.cli import main\n"
            "try:\n    main(['suite', 'list'])\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "print('imported:', sorted({'torch', 'pandas'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "imported: []"
    assert "phoneme-simple" in done.stdout and "subset ≥ 0.45" in done.stdout


def test_suite_run_numbers_its_workloads_and_shows_progress_with_an_eta(tmp_path) -> None:
    import re

    from click.testing import CliRunner

    from optbench.cli import main

    result = CliRunner().invoke(main, ["suite", "run", "--optims", "sgd[lr=0.5]", "--workloads", "quadratic-k10",
                                       "--out", str(tmp_path / "s"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "workload 1/1: quadratic-k10" in result.output
    assert re.search(r"study \(steps\).* 600/600 +100% +\d+:\d\d:\d\d eta \d+:\d\d:\d\d", result.output), result.output


def test_score_columns_are_short_unique_workload_ids() -> None:
    from optbench.suite.cli_view import short_ids

    ids = [w.id for w in load_suite("lecture-v1").workloads]
    short = short_ids(ids)
    assert short["quadratic-k100-noisy"] == "q-k100-noisy" and short["phoneme-simple"] == "p-simple"
    assert short["rosenbrock"] == "rosenbrock" and len(set(short.values())) == len(ids)
    clash = ["quadratic-x", "quadratic-y", "q-x"]  # q-x twice: every id stays whole
    assert short_ids(clash) == {i: i for i in clash}


def test_suite_list_and_score_split_no_word_at_80_columns(monkeypatch) -> None:
    import io

    from rich.console import Console

    from optbench import console as C
    from optbench.suite import cli_view
    from optbench.suite.scoring import score_stores

    listing = {"workload", "budget", "target", "quadratic-k1000-noisy", "quadratic[kappa=1000,noise=0.01]",
               "phoneme-medium", "validation"}
    scores = {"optimizer", "reached", "q-k100-noisy", "rosenbrock", "adagrad", "q = quadratic"}
    for command, words in ((lambda: cli_view.workloads_table("lecture-v1"), listing),
                           (lambda: cli_view.print_score(score_stores([])), scores)):
        out = Console(width=80, file=io.StringIO(), color_system=None)
        monkeypatch.setattr(C, "console", out)
        monkeypatch.setattr(cli_view, "console", out)
        command()
        text = out.file.getvalue()
        assert max(len(line) for line in text.splitlines()) <= 80
        assert not {w for w in words if w not in text}, text

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
    assert "phoneme-simple" in done.stdout and "validation accuracy ≥ 0.45" in done.stdout

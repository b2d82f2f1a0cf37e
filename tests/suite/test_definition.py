"""lecture-v1 as data: its workloads, their targets (the task's own where it declares one), and bad suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from optbench.cli import main
from optbench.errors import SpecError
from optbench.registry import load_registry
from optbench.spec import parse_list
from optbench.suite.definition import Workload, known_suites, load_suite, suite_from_json

LECTURE = load_suite("lecture-v1")


def test_lecture_v1_covers_the_lecture_phenomena() -> None:
    assert "lecture-v1" in known_suites() and LECTURE.version == 2
    tasks = [parse_list(w.task)[0] for w in LECTURE.workloads]
    names = [t.name for t in tasks]
    assert "saddle" not in names  # unbounded below: a run "wins" at −1e12
    for needed in ("double-well", "rosenbrock", "himmelblau", "logistic", "phoneme"):
        assert needed in names
    quads = {(t.params["kappa"], t.params["noise"] > 0) for t in tasks if t.name == "quadratic"}
    assert quads == {(k, noisy) for k in (10, 100, 1000) for noisy in (False, True)}
    assert {t.params["preset"] for t in tasks if t.name == "phoneme"} == {"simple", "medium"}
    for w in LECTURE.workloads:  # noise-free quadratics are full batch, noisy ones minibatch
        if w.task.startswith("quadratic"):
            assert (w.batch_size == "full") == ("noise=0]" in w.task)


def test_targets_come_from_the_tasks_and_the_suite_only_fills_in_for_phoneme() -> None:
    registry = load_registry()
    for w in LECTURE.workloads:
        if w.task.startswith("phoneme"):  # its declared targets are for 1 epoch; these workloads are shorter
            target = w.resolve_target(registry)
            assert target.source == "suite" and target.metric == "val_acc_subset" and target.direction == "max"
            continue
        target = w.resolve_target(registry)
        assert target.source == "task" and w.target is None
        assert target.direction == "min"


def test_double_well_is_bounded_below_with_minima_at_plus_minus_one() -> None:
    from optbench.plan import TaskCache

    task = TaskCache(load_registry()).get("double-well", {})
    xs = torch.linspace(-3, 3, 301, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, xs, indexing="xy")
    assert float(task.surface(grid_x, grid_y).min()) == pytest.approx(-0.25)
    assert {(cp.y, cp.kind) for cp in task.critical_points()} >= {(1.0, "minimum"), (-1.0, "minimum")}


def test_a_suite_may_not_override_a_declared_target_for_the_same_budget() -> None:
    w = Workload("q", "quadratic[dim=4]", "q", steps=500, target={"metric": "rel_dist_to_opt", "value": 0.5})
    with pytest.raises(SpecError, match="declares its own target"):
        w.resolve_target(load_registry())


def test_a_suite_target_must_name_a_declared_metric() -> None:
    w = Workload("s", "saddle", "s", steps=5, target={"metric": "accuracy", "value": 0.5})
    with pytest.raises(SpecError, match="not declared"):
        w.resolve_target(load_registry())


@pytest.mark.parametrize("document, message", [
    ({"name": "x", "version": 1, "protocol": {}, "workloads": []}, "at least one"),
    ({"name": "x", "version": 1, "protocol": {}, "workloads": [{"id": "a", "task": "saddle", "what": ""}]},
     "exactly one of steps or epochs"),
    ({"name": "x", "protocol": {}, "workloads": []}, "version"),
])
def test_malformed_suites_are_one_line_errors(document: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        suite_from_json(document, "test")


def test_cli_unknown_suite_exits_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["suite", "run", "--optims", "sgd", "--suite", "lecture-v9",
                                       "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "unknown suite 'lecture-v9'" in result.output
    assert "Traceback" not in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "b"}) + "{")
    result = CliRunner().invoke(main, ["suite", "list", "--suite", str(bad)])
    assert result.exit_code == 2 and "not valid JSON" in result.output

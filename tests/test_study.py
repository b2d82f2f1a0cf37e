"""A study and its store: task declarations written at run time, safe folder names, no-op reruns."""

from __future__ import annotations

import optbench
from optbench.store import Store, safe_slug


def test_task_declarations_and_the_2d_surface_are_in_the_store(tmp_path) -> None:
    trials = optbench.run("rosenbrock,quadratic[kappa=10]", "sgd[lr=0.001]", seeds="0", steps=3, out=tmp_path / "s")
    infos = Store(tmp_path / "s").read_task_infos()
    assert set(infos) == set(trials["task_key"])
    by_task = {info["task"]: info for info in infos.values()}
    rosen, quad = by_task["rosenbrock"], by_task["quadratic"]
    assert rosen["headline"] == "full_loss" and rosen["target"]["metric"] == "dist_to_min"
    assert len(rosen["surface"]["z"]) == len(rosen["surface"]["y"]) and rosen["critical_points"][0]["kind"] == "minimum"
    directions = {m["name"]: m["direction"] for m in quad["metrics"]}
    assert directions["suboptimality"] == "min" and quad["target"]["direction"] == "min" and quad["surface"] is None
    row = trials.set_index("task").loc["quadratic"]
    assert row.headline_metric == "suboptimality" and row.target_metric == "rel_dist_to_opt"


def test_a_plugin_name_cannot_move_the_store_out_of_results(tmp_path) -> None:
    registry = optbench.load_registry()
    toy = registry.get("task", "saddle")
    registry.add(optbench.task("x/../../../../elsewhere/esc", toy.factory, "hostile name", dict(toy.defaults)))
    trials = optbench.run("x/../../../../elsewhere/esc", "sgd", seeds="0", steps=2, registry=registry,
                          results_dir=tmp_path / "results")
    store = (tmp_path / "results").resolve()
    assert store in __import__("pathlib").Path(trials.attrs["store"]).resolve().parents
    assert safe_slug("../..") == "study" and "/" not in safe_slug("a/b")


def test_a_no_op_rerun_adds_no_manifest_run(tmp_path) -> None:
    for _ in range(2):
        optbench.run("saddle", "sgd", seeds="0", steps=2, out=tmp_path / "s")
    assert len(optbench.load(tmp_path / "s").manifest["runs"]) == 1

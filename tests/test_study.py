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


def _no_task_built(monkeypatch) -> None:
    from optbench.plan import TaskCache

    def refuse(*args, **kwargs):
        raise AssertionError("a task was built for a study whose trials are all stored")

    monkeypatch.setattr(TaskCache, "get", refuse)


def test_a_rerun_with_every_trial_stored_builds_no_task(tmp_path, monkeypatch) -> None:
    from optbench.study import prepare

    settings = dict(seeds="0-1", steps=4, out=tmp_path / "s", threads=1)
    first = optbench.run("quadratic[kappa=10],saddle", "sgd,adam[lr=0.1|0.01]", **settings)
    with monkeypatch.context() as patch:
        _no_task_built(patch)
        study = prepare("quadratic[kappa=10],saddle", "sgd,adam[lr=0.1|0.01]", **settings)
        study.store.release()
    assert sorted(c.trial_id for c in study.configs) == sorted(first["trial_id"]) and study.pending() == []
    assert {c.optimizer_label for c in study.configs} == {"sgd", "adam[lr=0.1]", "adam[lr=0.01]"}
    again = optbench.run("quadratic[kappa=10],saddle", "sgd,adam[lr=0.1|0.01]", **settings)
    assert again.sort_values("trial_id").reset_index(drop=True).equals(
        first.sort_values("trial_id").reset_index(drop=True))


def test_anything_that_could_change_the_trials_plans_again(tmp_path, monkeypatch) -> None:
    from optbench.study import prepare

    settings = dict(seeds="0", steps=3, out=tmp_path / "s", threads=1)
    optbench.run("saddle", "sgd,adam", **settings)
    _no_task_built(monkeypatch)
    for changed in (dict(settings, steps=4), dict(settings, seeds="0-1"), dict(settings, force=True)):
        try:
            prepare("saddle", "sgd,adam", **changed)
        except AssertionError as planned:
            assert "a task was built" in str(planned)
        else:
            raise AssertionError(f"{changed} was answered from the store")
    trial_file = next((tmp_path / "s" / "trials").iterdir())
    trial_file.unlink()  # one trial missing: plan, and run it
    try:
        prepare("saddle", "sgd,adam", **settings)
    except AssertionError as planned:
        assert "a task was built" in str(planned)
    else:
        raise AssertionError("a study with a missing trial was answered from the store")

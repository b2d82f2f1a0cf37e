"""The thread policy: one thread for tiny steps, the free cores otherwise, fewer under load."""

from __future__ import annotations

import optbench
from optbench.threads import SMALL_STEP, choose_threads, free_cores


def test_tiny_steps_get_one_thread_whatever_the_machine() -> None:
    assert choose_threads("auto", SMALL_STEP - 1, cores=16, load=0.0).threads == 1


def test_large_steps_get_the_free_cores() -> None:
    assert choose_threads("auto", 10**8, cores=8, load=0.0).threads == 8
    assert choose_threads("auto", 10**8, workers=2, cores=8, load=0.0).threads == 4
    busy = choose_threads("auto", 10**8, cores=2, load=6.0)
    assert busy.threads == 1 and "load 6.0" in busy.reason


def test_our_own_workers_are_not_counted_as_other_load() -> None:
    assert free_cores(workers=2, cores=4, load=1.0).threads == 2


def test_an_explicit_number_is_used_as_given() -> None:
    assert choose_threads(3, 10, cores=2, load=9.0).threads == 3


def test_the_choice_is_recorded_per_trial(tmp_path) -> None:
    trials = optbench.run("saddle", "sgd", seeds="0", steps=3, out=tmp_path / "s")
    assert trials.iloc[0].threads == 1 and "tiny step" in trials.iloc[0].threads_reason
    manifest = optbench.load(tmp_path / "s").manifest
    assert manifest["runs"][0]["config"]["threads"] == "auto" and len(manifest["runs"][0]["config"]["load_avg"]) == 3

"""Per-step overhead of optbench's trial loop against a bare PyTorch loop (benchmarks/runner_overhead.py):
the same task, optimizer, batches and step count; group ``step overhead`` reads as optbench / bare."""

from __future__ import annotations

import pytest
from runner_overhead import bare_loop

from optbench.loop import run_trial
from optbench.plan import StudySpec, TaskCache, plan
from optbench.registry import load_registry
from optbench.trial import Options

STEPS = 500


@pytest.fixture(scope="module")
def setting() -> tuple:
    registry = load_registry(plugin_dir=None)
    cache = TaskCache(registry)
    spec = StudySpec("quadratic[dim=200,n=4096]", "sgd", batch_sizes="64", seeds="0", steps=STEPS, threads=1)
    config = plan(spec, registry, cache)[0]
    return registry, cache, config, cache.get(config.task, config.task_params)


@pytest.mark.benchmark(group=f"step overhead: quadratic[dim=200,n=4096], sgd, bs=64, {STEPS} steps")
def test_bare_pytorch_loop(benchmark, setting) -> None:
    registry, _, config, task = setting
    benchmark.pedantic(bare_loop, args=(task, config, registry, STEPS), rounds=3, warmup_rounds=1)


@pytest.mark.benchmark(group=f"step overhead: quadratic[dim=200,n=4096], sgd, bs=64, {STEPS} steps")
def test_optbench_trial(benchmark, setting) -> None:
    registry, cache, config, _ = setting
    result = benchmark.pedantic(run_trial, args=(config, registry, Options(save_checkpoints=False), cache),
                                rounds=3, warmup_rounds=1)
    assert result.row["steps"] == STEPS  # the same work as the bare loop

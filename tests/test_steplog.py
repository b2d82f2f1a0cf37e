"""Per-step values read back once per chunk: the same numbers as one ``.item()`` per value, in order."""

from __future__ import annotations

import torch

from optbench.steplog import CHUNK_STEPS, ROWS, STEP, StepLog, to_host


def test_to_host_gives_what_item_gives_for_every_dtype_in_order() -> None:
    g = torch.Generator().manual_seed(0)
    values = [torch.randn((), generator=g, dtype=dtype) for dtype in (torch.float32, torch.float64, torch.bfloat16)
              for _ in range(3)]
    mixed = [values[0], 0.125, values[4], 3, values[8], values[1]]
    host = to_host(mixed)
    assert host == [v.item() if isinstance(v, torch.Tensor) else v for v in mixed]
    assert [type(v) for v in host] == [float, float, float, int, float, float]


def test_drain_returns_the_entries_in_order_with_host_values_and_empties_the_log() -> None:
    log = StepLog()
    for step in range(1, 4):
        log.add((step, step / 2, 8 * step, 0.001 * step), STEP, [("train_loss", torch.tensor(float(step))),
                                                                 ("lr", 0.1)])
    log.add((3, 1.5, 24, 0.003), ROWS, [("val_loss", torch.tensor(0.5, dtype=torch.float64))])
    drained = log.drain(0.003)
    assert [(at[0], kind) for at, kind, _ in drained] == [(1, STEP), (2, STEP), (3, STEP), (3, ROWS)]
    assert drained[1] == ((2, 1.0, 16, 0.002), STEP, [("train_loss", 2.0), ("lr", 0.1)])
    assert drained[3][2] == [("val_loss", 0.5)] and not log.pending and log.steps == 0


def test_a_chunk_is_due_after_its_steps_or_its_seconds_not_its_other_rows() -> None:
    log = StepLog()
    for step in range(CHUNK_STEPS - 1):
        log.add((step, 0.0, 0, 0.0), STEP, [])
        log.add((step, 0.0, 0, 0.0), ROWS, [])
    assert not log.due(0.0) and log.due(1.0)
    log.add((CHUNK_STEPS, 0.0, 0, 0.0), STEP, [])
    assert log.due(0.0)

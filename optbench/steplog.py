"""Per-step records kept as tensors on the device and copied to the host once per chunk.

A tiny step (a 2-D surface, a small logistic regression) costs tens of microseconds, so reading every
per-step value back with ``.item()`` (a device synchronisation each on a GPU) is a large share of the
trial. The training loop therefore hands each step's values to a :class:`StepLog` as they are: 0-d
tensors (the loss, the gradient norm, a task's step metrics when it returns tensors) or Python numbers.
:meth:`StepLog.drain` copies a chunk's tensors to the host in one ``stack(...).tolist()`` per dtype and
device (bit for bit the values ``.item()`` would give) and returns the entries in the order they were logged.

The loop drains when :data:`CHUNK_STEPS` steps or :data:`CHUNK_SECONDS` of timed compute are pending, and
at the end of training. Evaluations and epoch ends are logged in between, so the rows keep their order. The
divergence monitor sees each step's loss, in order, when its chunk is drained: a trial that diverged inside
a chunk has computed at most one chunk past its diverged step, and the loop drops what was logged after it,
so what is recorded is what a step-by-step check would have recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

CHUNK_STEPS = 64  # steps per device-to-host copy: amortises the copy, bounds the overshoot of a divergence
CHUNK_SECONDS = 0.05  # …and at most this much timed compute per chunk (big steps: overshoot stays short)

#: where an entry was logged: (step, epoch, examples, clock)
At = tuple[int, float, int, float]
#: kinds of entries: a step's values (its loss first), other rows (evaluations, …), an epoch's end
STEP, ROWS, EPOCH_END = "step", "rows", "epoch_end"


def to_host(values: list[Any]) -> list[Any]:
    """``values`` with every tensor replaced by its Python number: one copy per (dtype, device) group."""
    out = list(values)
    groups: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            groups.setdefault((value.dtype, value.device), []).append(i)
    for indices in groups.values():
        host = torch.stack([values[i].reshape(()) for i in indices]).tolist()
        for i, number in zip(indices, host, strict=True):
            out[i] = number
    return out


@dataclass
class StepLog:
    """The entries logged since the last drain; tensors stay on the device until :meth:`drain`."""

    pending: list[tuple[At, str, list[tuple[str, Any]]]] = field(default_factory=list)
    steps: int = 0
    clock_at_drain: float = 0.0

    def add(self, at: At, kind: str, values: list[tuple[str, Any]]) -> None:
        """Log ``values`` (a list the caller may still extend until the next drain)."""
        self.pending.append((at, kind, values))
        self.steps += kind == STEP

    def due(self, clock: float) -> bool:
        """Whether a chunk is full (in steps or in timed seconds)."""
        return self.steps >= CHUNK_STEPS or clock - self.clock_at_drain >= CHUNK_SECONDS

    def drain(self, clock: float) -> list[tuple[At, str, list[tuple[str, Any]]]]:
        """The pending entries with their values on the host, in the order logged; empties the log."""
        host = iter(to_host([value for _, _, values in self.pending for _, value in values]))
        out = [(at, kind, [(name, next(host)) for name, _ in values]) for at, kind, values in self.pending]
        self.pending, self.steps, self.clock_at_drain = [], 0, clock
        return out

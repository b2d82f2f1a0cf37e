"""The CPU thread policy: how many torch threads a trial gets, decided so that it cannot thrash.

On a busy machine two torch threads on a tiny step spend their time waiting for each other (a 2-D
surface's batch gather took 4.7 ms with 2 threads under load against 0.011 ms with 1). ``auto``
therefore gives

- one thread to tasks whose step is tiny (fewer than :data:`SMALL_STEP` parameter × example
  multiply-adds: 2-D surfaces, small quadratics), decided from the task's size, not its name;
- otherwise the free cores: cores divided among the ``workers`` processes, minus the load other
  programs already put on the machine (the 1-minute load average at the start), at least one.

An explicit number is used as given. The choice and its reason are recorded in the manifest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

#: parameter × example products below this are "tiny steps" that run best on one thread
SMALL_STEP = 200_000


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str


def machine_load() -> float:
    """The 1-minute load average (0 where the OS does not report one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def free_cores(workers: int = 1, cores: int | None = None, load: float | None = None) -> ThreadChoice:
    """Cores per worker left after the machine's current load (at least one)."""
    cores = cores or os.cpu_count() or 1
    load = machine_load() if load is None else load
    share = max(1, cores // max(1, workers))
    busy = max(0, math.floor(load + 0.5) - max(0, workers - 1))  # our own other workers are not "others"
    free = max(1, min(share, cores - busy))
    if free < share:
        return ThreadChoice(free, f"load {load:.1f} on {cores} cores: {free} of {share} threads")
    return ThreadChoice(share, f"{share} of {cores} cores" + (f" per worker ({workers})" if workers > 1 else ""))


def choose_threads(requested: int | str, step_size: int, workers: int = 1, cores: int | None = None,
                   load: float | None = None) -> ThreadChoice:
    """Torch threads for a trial whose step costs about ``step_size`` parameter × example products."""
    if requested != "auto":
        return ThreadChoice(int(requested), "as asked (--threads)")
    if step_size < SMALL_STEP:
        return ThreadChoice(1, f"tiny step ({step_size:,} parameter·examples): one thread")
    return free_cores(workers, cores, load)

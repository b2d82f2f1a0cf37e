"""The process pool's fork server: which start method workers use, and starting it early.

Workers of the ``process`` backend are forks of multiprocessing's fork server (``spawn`` where the
platform has none). The server imports torch and optbench's trial code once and never runs a torch
operation, so its forks share no thread pool with anyone (forking a process after torch has *run* is
unsafe: OpenMP thread pools do not survive a fork) and start in milliseconds instead of each paying
~3 s of imports. What the server imports, and how it exits without a teardown, is
:mod:`optbench.pool_server`. This module imports nothing heavy, so a command can start the server
before it imports torch itself, and the two imports overlap.
"""

from __future__ import annotations

import multiprocessing
import os

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
#: what the server imports once (torch, torch._dynamo, optbench's trial code) and how it exits: see the module
PRELOAD = ["optbench.pool_server"]


def start_pool_early(workers: int, start_method: str = START_METHOD) -> None:
    """Start the fork server now (if ``workers > 1``), so its imports overlap the caller's own work.

    Returns at once: the server imports in the background, and the first worker fork waits for it. It is
    one per process and serves every later study of that process (``tune``, a notebook)."""
    if workers > 1:
        parent_of_workers(start_method)


def parent_of_workers(start_method: str = START_METHOD) -> int | None:
    """The pid a new worker's parent will have: the fork server's (started if need be), or ours (spawn)."""
    if start_method != "forkserver":
        return os.getpid()
    import multiprocessing.forkserver as forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)  # used when it starts
    forkserver.ensure_running()
    return getattr(forkserver._forkserver, "_forkserver_pid", None)  # no public accessor

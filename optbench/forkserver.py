"""The process pool's fork server: which start method workers use, and starting it early.

Workers of the ``process`` backend are forks of multiprocessing's fork server (``spawn`` where the
platform has none). The server imports torch and optbench's trial code once and never runs a torch
operation, so its forks share no thread pool with anyone (forking a process after torch has *run* is
unsafe: OpenMP thread pools do not survive a fork) and start in milliseconds instead of each paying
~3 s of imports. What the server imports, and how it exits without a teardown, is
:mod:`optbench.pool_server`. This module imports nothing heavy, so a command can start the server
before it imports torch itself, and the two imports overlap.

The server dies with its driver at every moment, even while it is still importing torch (10-45 s on a
loaded machine): multiprocessing's server notices its driver's death only once its preloads are done.
So this module is the server's *first* preload, and there it starts a thread that waits on the server's
"alive" pipe (whose write end only the driver holds: end of file when the driver dies, however it dies)
and ends the process at once. A parent-death signal was not chosen: Linux sends it when the *thread*
that started the server ends, and a driver may start its pool from a thread that ends before the study.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
#: what the server imports once: first this module (the driver-death watch, see the module docstring), then
#: torch, torch._dynamo and optbench's trial code, and how it exits (:mod:`optbench.pool_server`)
PRELOAD = ["optbench.forkserver", "optbench.pool_server"]


def running_as_fork_server() -> bool:
    """True when this code runs inside ``multiprocessing.forkserver.main`` (the server's preload)."""
    return _fork_server_frame() is not None


def _fork_server_frame() -> object | None:
    import multiprocessing.forkserver as forkserver

    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return frame
        frame = frame.f_back
    return None


def _exit_when_the_driver_dies() -> None:
    """In the fork server: end the process as soon as the driver's end of the alive pipe is closed."""
    frame = _fork_server_frame()
    alive_r = getattr(frame, "f_locals", {}).get("alive_r")
    if alive_r is None:  # another Python's forkserver.main: its own loop still sees the EOF, after preloading
        return

    def watch() -> None:
        try:
            os.read(alive_r, 1)  # blocks until the driver is gone (nothing is ever written)
        except OSError:
            pass
        os._exit(0)  # the server has nothing to tear down (see optbench.pool_server)

    threading.Thread(target=watch, daemon=True, name="optbench-driver-watch").start()


if running_as_fork_server():
    _exit_when_the_driver_dies()


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

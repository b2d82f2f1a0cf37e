"""The pool's fork server: it preloads torch, torch._dynamo and the trial code, and exits without a teardown."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optbench import forkserver, pool_server

#: a module whose one object writes a file when the interpreter tears it down (never under os._exit)
MARKER_MODULE = """
import os

class _WritesAtTeardown:
    def __del__(self, _open=open, _path=os.environ["OPTBENCH_TEST_MARKER"]):
        with _open(_path, "w") as handle:
            handle.write("the interpreter tore this module down")

kept = _WritesAtTeardown()
"""

#: a driver that starts a fork server with the given preload and exits at once (the server follows it)
DRIVER = """
import multiprocessing, multiprocessing.forkserver, sys
multiprocessing.get_context("forkserver").set_forkserver_preload(sys.argv[1].split(","))
multiprocessing.forkserver.ensure_running()
"""


def _server_tore_down(folder: Path, preload: list[str]) -> bool:
    """Run DRIVER and say whether its fork server tore its modules down when it exited.

    ``capture_output`` returns only once every holder of the driver's stdout and stderr has closed them,
    the fork server included, so the marker file is there by then if it is ever written."""
    folder.mkdir()
    (folder / "teardown_marker.py").write_text(MARKER_MODULE)
    marker = folder / "marker.txt"
    env = {**os.environ, "OPTBENCH_TEST_MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join([str(folder), *sys.path])}
    subprocess.run([sys.executable, "-c", DRIVER, ",".join(preload)], env=env, capture_output=True, check=True,
                   timeout=120)
    return marker.exists()


@pytest.mark.skipif(forkserver.START_METHOD != "forkserver", reason="no fork server on this platform")
def test_the_fork_server_exits_without_a_teardown(tmp_path: Path) -> None:
    assert _server_tore_down(tmp_path / "control", ["teardown_marker"])  # a plain server: the probe works
    assert not _server_tore_down(tmp_path / "pool", ["teardown_marker", *forkserver.PRELOAD])


def test_pool_server_preloads_what_workers_need_and_only_arms_its_exit_in_the_server() -> None:
    assert forkserver.PRELOAD == ["optbench.forkserver", "optbench.pool_server"]  # the driver-death watch first
    assert {"torch._dynamo", "optbench.backends"} <= set(sys.modules)  # imported with pool_server
    assert not pool_server.running_as_fork_server()  # here, a test process: its exit is untouched
    probe = textwrap.dedent("""
        import atexit
        atexit.register(print, "the other exit handlers still ran")
        import optbench.pool_server
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert "the other exit handlers still ran" in done.stdout

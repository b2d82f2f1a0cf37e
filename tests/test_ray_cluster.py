"""``--backend ray`` against a real two-node Ray cluster: a head and a second node, each started by
``ray start --block`` as separate processes on this machine (1 CPU each, no dashboard, no usage stats).

The worker node is killed (its whole process group, as a machine that is lost) while the study is in
flight: a gated optimizer (the plugin of ``tests/test_backends.py``) keeps trials running until the test
opens the gate, so the kill cannot come after the study is over. The study must then finish on the head
(Ray retries a task whose node died) or exit 2 with one line, and a rerun completes the store, identical
to a sequential run. Teardown stops the nodes by their ``ray start`` processes (SIGTERM stops the Ray
processes each started), then kills by pid whatever of their sessions is left: never ``ray stop``, which
would stop every Ray on the machine, other people's too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_backends import DEADLINE, GATE_PLUGIN, GATED_GRID, _assert_same_store, _finished, _wait_until

import optbench
from optbench.study import execute, prepare

pytestmark = pytest.mark.slow
REPO = Path(optbench.__file__).resolve().parents[1]
READY = "This command will now block forever"  # what `ray start --block` prints once its node is up
MEMORY_NEEDED = 3 * 2**30  # two nodes' processes took ~1.2 GB resident here (2026-12-02)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session(pid: int) -> list[int]:
    """The processes of the session ``pid`` leads (a node: its ray start, raylet, agents, workers)."""
    out = subprocess.run(["ps", "-o", "pid=", "-s", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Node:
    """One ``ray start --block`` in its own session; its log in ``folder``."""

    def __init__(self, name: str, arguments: list[str], folder: Path, env: dict[str, str]):
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([shutil.which("ray") or "ray", "start", "--block", *arguments], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_until(lambda: READY in self.log.read_text() or self.process.poll() is not None, DEADLINE,
                    f"the {name} node to start")
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        """The node is lost: every process of it at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=DEADLINE)
        _wait_until(lambda: not _session(self.process.pid), DEADLINE, "the killed node's processes to go")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # ray start --block stops what it started
            self.process.wait(timeout=DEADLINE)
        deadline = time.monotonic() + 60
        while _session(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in _session(self.process.pid):  # by pid, what did not stop on its own
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, Node, Path]]:
    """A head and a worker node; the gate folder their trials wait at (``OPTBENCH_TEST_GATE``)."""
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'optbench[ray]')")
    from optbench.tasks.base import available_memory

    if (available_memory() or MEMORY_NEEDED) < MEMORY_NEEDED:
        pytest.skip("less than 3 GiB of memory available for two Ray nodes")
    folder = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's unix socket paths are limited
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0", "OPTBENCH_TEST_GATE": str(gate)}
    port = _free_port()
    nodes: list[Node] = []
    try:
        nodes.append(Node("head", ["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                                   "--disable-usage-stats", f"--temp-dir={folder}"], folder, env))
        nodes.append(Node("worker", [f"--address=127.0.0.1:{port}", "--num-cpus=1"], folder, env))
        yield f"127.0.0.1:{port}", nodes[1], gate
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _cli(out: Path, address: str, plugin: Path) -> list[str]:
    return [sys.executable, "-m", "optbench", "run", "-q", "-t", GATED_GRID["tasks"], "-o", GATED_GRID["optims"],
            "--steps", str(GATED_GRID["steps"]), "--seeds", GATED_GRID["seeds"], "--threads", "1",
            "--backend", "ray", "--address", address, "--plugin", str(plugin), "--out", str(out)]


def test_losing_a_node_mid_study_then_rerunning_gives_the_sequential_store(
        cluster: tuple[str, Node, Path], tmp_path: Path) -> None:
    address, worker_node, gate = cluster
    plugin = tmp_path / "gate.py"
    plugin.write_text(GATE_PLUGIN)
    sequential = tmp_path / "sequential"
    execute(prepare(**GATED_GRID, out=sequential, plugins=[str(plugin)]))  # no gate in this process
    out = tmp_path / "cluster"
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the driver has no gate: only the nodes' trials wait
    driver = subprocess.Popen(_cli(out, address, plugin), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    at_gate: Callable[[], int] = lambda: len(list(gate.glob("waiting-*")))  # noqa: E731
    # in flight: a trial is done (so the cluster runs trials) or both CPUs hold a trial waiting at the gate
    _wait_until(lambda: _finished(out) >= 1 or at_gate() >= 2 or driver.poll() is not None, DEADLINE,
                "the study to be in flight")
    assert driver.poll() is None, driver.communicate()
    worker_node.kill()
    (gate / "open").write_text("")
    _, err = driver.communicate(timeout=DEADLINE)
    print(f"after losing the worker node: exit {driver.returncode}, {_finished(out)} of 6 trials; {err[-300:]!r}")
    if driver.returncode != 0:  # allowed: one clear line saying what to do
        assert driver.returncode == 2 and b"Traceback" not in err, err
        assert b"rerun the same command" in err.strip().splitlines()[-1], err
    assert _finished(out) <= 6
    rerun = subprocess.run(_cli(out, address, plugin), env=env, capture_output=True, timeout=DEADLINE)
    assert rerun.returncode == 0, rerun.stderr
    _assert_same_store(sequential, out)

"""The command line, for real: listing, running, rerunning, user errors, and kill -9 then resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import optbench
from optbench.cli import main


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_shows_name_description_defaults_and_source() -> None:
    for kind, names in (("optimizers", ["sgd", "radam", "lr range"]), ("schedules", ["warmup-cosine"]),
                        ("tasks", ["quadratic", "himmelblau"])):
        result = _invoke("list", kind)
        assert result.exit_code == 0
        for name in [*names, "builtin"]:
            assert name in result.output


def test_run_then_rerun_finishes_at_once(tmp_path: Path) -> None:
    args = ["run", "--tasks", "quadratic,saddle", "--optims", "sgd,adam", "--schedules", "constant,warmup-cosine",
            "--batch-sizes", "1,full", "--seeds", "0,1", "--steps", "30", "--out", str(tmp_path / "s")]
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    assert "median (interquartile range)" in first.output and f"results: {tmp_path / 's'}" in first.output
    assert len(optbench.load(tmp_path / "s").trials) == 32
    second = _invoke(*args)
    assert "All 32 trials are already in" in second.output


@pytest.mark.parametrize("args,message", [
    (["--optims", "adamm"], "unknown optimizer 'adamm'; did you mean 'adam'?"),
    (["--optims", "sgd[lr=-0.1]"], "lr must be > 0"),
    (["--optims", "sgd[lr=0.1"], "unclosed '['"),
    (["--batch-sizes", "0"], "batch size must be >= 1"),
    (["--tasks", "quadratic[kappa=0.5]"], "kappa (condition number) must be >= 1"),
    (["--tasks", "quadratik"], "did you mean 'quadratic'"),
    (["--out", "/proc/version/sub"], "cannot write to --out /proc/version/sub"),
])
def test_user_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    base = {"--tasks": "quadratic", "--optims": "sgd", "--steps": "5"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    result = CliRunner().invoke(main, ["run", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1


def test_broken_plugin_warns_and_the_rest_works(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import optbench\nx = optbench.optimizer('x', 42, 'not callable')\n")
    result = CliRunner().invoke(main, ["--plugin", str(bad), "list", "optimizers"])
    assert result.exit_code == 0 and "radam" in result.output
    assert f"plugin file {bad}" in result.output and "factory of 'x' is not callable" in result.output


def test_kill_9_midway_loses_at_most_the_running_trial_and_resume_completes(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "optbench", "run", "--tasks", "quadratic[dim=50]", "--optims",
           "sgd,momentum,adam,rmsprop", "--seeds", "0-9", "--batch-sizes", "1", "--steps", "400", "--quiet",
           "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(optbench.__file__).parents[1])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "trials").glob("*.parquet"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in (out / "trials").glob("*.parquet")}
    assert 5 <= len(finished) < 40
    partial = optbench.load(out)  # readable, never corrupt
    assert set(partial.trials.trial_id) == finished and set(partial.metrics.trial_id) == finished
    stamps = {p: p.stat().st_mtime_ns for p in (out / "trials").glob("*.parquet")}
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    full = optbench.load(out)
    assert len(full.trials) == 40 and full.trials.trial_id.is_unique
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # finished trials were not redone
    assert not list(out.rglob("*.tmp"))


HANG_PLUGIN = """
import pathlib, time, torch, optbench

CALLS = []


class Hang(torch.optim.SGD):
    def step(self, closure=None):
        CALLS.append(1)
        if len(CALLS) == 1:  # the planner's probe step on a dummy parameter
            return super().step(closure)
        marker = pathlib.Path({marker!r})
        if not marker.exists():
            marker.write_text("started")
        while True:  # until Ctrl-C reaches the process
            time.sleep(0.05)

hang = optbench.optimizer("hang", lambda params, lr=0.1: Hang(params, lr=lr), "never finishes a step")
"""


def _wait_for(path: Path, process: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_exits_130_keeps_finished_trials_and_says_how_to_resume(tmp_path: Path) -> None:
    marker, plugin, store = tmp_path / "started", tmp_path / "hang.py", tmp_path / "s"
    plugin.write_text(HANG_PLUGIN.format(marker=str(marker)))
    command = [sys.executable, "-m", "optbench", "run", "-q", "-t", "saddle", "-o", "sgd,hang", "--seeds", "0",
               "--steps", "5", "--threads", "1", "--plugin", str(plugin), "--out", str(store)]
    # A test runner started as a background job inherits SIGINT ignored, and Python keeps an inherited
    # "ignore": restore the default so the child gets Ctrl-C as a terminal would deliver it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for(marker, process)  # the sgd trial is finished and the hanging one has started
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "finished trials are kept" in err and "rerun the same command" in err and "Traceback" not in err
    assert len(list((store / "trials").glob("*.parquet"))) == 1


def test_insist_runs_a_step_budget_above_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench import spec

    monkeypatch.setattr(spec, "MAX_STEPS", 10)  # the limit is read when a study is planned
    args = ["run", "-t", "quadratic[dim=3]", "-o", "sgd", "--steps", "20", "--seeds", "0", "--threads", "1", "-q",
            "--out", str(tmp_path / "s")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "asks for 20 steps per trial, more than the limit of 10" in refused.output
    assert not (tmp_path / "s").exists()
    insisted = CliRunner().invoke(main, [*args, "--insist"])
    assert insisted.exit_code == 0, insisted.output
    assert optbench.load(tmp_path / "s").trials["steps"].tolist() == [20]

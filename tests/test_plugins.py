"""Plugins, the three ways: ./plugins/*.py, --plugin (file or module) and an installed package's entry
points; the shipped examples pass the conformance suite; broken plugins get a one-line message naming
their file while everything else keeps working."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optbench.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PACKAGE = REPO / "examples" / "optbench-example-plugin"
SHIPPED = ["lion.py", "polynomial.py"]  # logistic is a builtin task now (optbench/tasks/logistic.py)
# the console script's equivalent, run by this interpreter (so it sees PYTHONPATH like pip's target would be seen)
OPTBENCH = [sys.executable, "-c", "import sys; from optbench.cli import main; sys.exit(main())"]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich folds table cells at 80 columns; wide enough that names and sources stay on one line
    from optbench.console import console

    monkeypatch.setattr(console, "width", 400)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), terminal_width=250)
    return result.exit_code, result.output


@pytest.fixture
def local_plugins(tmp_path: Path) -> Path:
    """The shipped example plugins in ./plugins of the (temporary) working directory."""
    (tmp_path / "plugins").mkdir()
    for name in SHIPPED:
        shutil.copy(REPO / "plugins" / name, tmp_path / "plugins" / name)
    return tmp_path / "plugins"


def test_plugins_directory_is_discovered(local_plugins: Path) -> None:
    for kind, name in (("optimizers", "lion"), ("schedules", "polynomial")):
        code, output = invoke("list", kind)
        assert code == 0 and name in output and "file plugins/" in output, output
        assert "warning" not in output


def test_shipped_plugins_pass_the_conformance_suite(local_plugins: Path) -> None:
    code, output = invoke("check", "lion", "polynomial", "logistic")
    assert code == 0, output
    assert "18/18 checks passed" in output


def test_shipped_plugins_run_next_to_builtins(local_plugins: Path, tmp_path: Path) -> None:
    code, output = invoke("run", "--tasks", "logistic[n=64,n_val=32]", "--optims", "lion[lr=0.003],adam",
                          "--schedules", "polynomial[power=2]", "--steps", "10", "--out", str(tmp_path / "r"), "-q")
    assert code == 0, output
    import optbench

    trials = optbench.load(tmp_path / "r").trials
    assert sorted(set(trials["optimizer"])) == ["adam", "lion"] and set(trials["status"]) == {"completed"}


def test_plugin_option_with_a_file() -> None:
    code, output = invoke("--plugin", str(REPO / "plugins" / "lion.py"), "list", "optimizers")
    assert code == 0 and "lion" in output and "lion.py" in output, output


def test_plugin_option_with_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE_PACKAGE))
    code, output = invoke("--plugin", "optbench_example_plugin", "list", "optimizers")
    assert code == 0 and "adabelief" in output and "module optbench_example_plugin" in output, output
    code, output = invoke("--plugin", "optbench_example_plugin", "check", "adabelief", "rex", "least-squares")
    assert code == 0 and "18/18 checks passed" in output, output


@pytest.mark.slow
def test_installed_example_package_is_discovered_through_entry_points(tmp_path: Path) -> None:
    # Install a copy (the build must not leave egg-info in the repository) into a private target folder.
    source, target = tmp_path / "src", tmp_path / "site"
    shutil.copytree(EXAMPLE_PACKAGE, source)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listing = {}
    for kind in ("optimizers", "schedules", "tasks"):
        out = subprocess.run([*OPTBENCH, "list", kind], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True)
        listing[kind] = out.stdout
        assert "warning" not in out.stderr, out.stderr
    assert "adabelief" in listing["optimizers"] and "entry point" in listing["optimizers"]
    assert "rex" in listing["schedules"] and "least-squares" in listing["tasks"]
    out = subprocess.run([*OPTBENCH, "check", "adabelief"], env=env, cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # and without the target on the path, nothing of it is left behind
    out = subprocess.run([*OPTBENCH, "list", "optimizers"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert "adabelief" not in out.stdout


BROKEN = {
    "bad_syntax.py": "def broken(:\n    pass\n",
    "duplicate.py": "import optbench, torch\n"
                    "ADAM = optbench.optimizer('adam', lambda p, lr=0.1: torch.optim.SGD(p, lr=lr), 'again')\n",
    "raises.py": "import optbench\n"
                 "def boom(params, lr=0.1):\n"
                 "    raise RuntimeError('no kernel for this device')\n"
                 "BOOM = optbench.optimizer('boom', boom, 'factory raises')\n",
    "not_an_optimizer.py": "import optbench\n"
                           "NOTOPT = optbench.optimizer('notopt', lambda params, lr=0.1: {'lr': lr}, 'a dict')\n",
}


@pytest.fixture
def broken_plugins(tmp_path: Path) -> Path:
    (tmp_path / "plugins").mkdir()
    for name, text in BROKEN.items():
        (tmp_path / "plugins" / name).write_text(text)
    return tmp_path / "plugins"


def test_load_problems_are_one_line_warnings_naming_the_file(broken_plugins: Path) -> None:
    code, output = invoke("list", "optimizers")
    assert code == 0
    assert "warning: plugin file plugins/bad_syntax.py: syntax error at line 1" in output
    assert "warning: plugin file plugins/duplicate.py: optimizer name 'adam' is already registered by builtin" \
        in output
    assert "Traceback" not in output
    assert "boom" in output and "notopt" in output  # the loadable plugins still load


def test_factory_that_raises_names_the_file(broken_plugins: Path) -> None:
    code, output = invoke("run", "--tasks", "saddle", "--optims", "boom", "--steps", "3")
    assert code == 2
    assert ("error: plugin file plugins/raises.py: optimizer 'boom': factory raised RuntimeError: "
            "no kernel for this device") in output
    assert "Traceback" not in output


def test_factory_returning_a_non_optimizer_names_the_file(broken_plugins: Path) -> None:
    code, output = invoke("run", "--tasks", "saddle", "--optims", "notopt", "--steps", "3")
    assert code == 2
    assert "error: optimizer 'notopt' (file plugins/not_an_optimizer.py): factory returned dict, " \
           "not a torch.optim.Optimizer" in output


def test_the_rest_keeps_working_next_to_broken_plugins(broken_plugins: Path, tmp_path: Path) -> None:
    code, output = invoke("run", "--tasks", "saddle", "--optims", "adam,sgd", "--steps", "3", "-q",
                          "--out", str(tmp_path / "ok"))
    assert code == 0, output
    code, output = invoke("check", "plugins/raises.py")
    assert code == 1 and "factory raised RuntimeError: no kernel for this device" in output
    code, output = invoke("check", "plugins/bad_syntax.py")
    assert code == 1 and "FAIL plugins/bad_syntax.py" not in output and "syntax error at line 1" in output


def test_plugin_hyperparameters_are_validated_against_the_plugin_signature(local_plugins: Path) -> None:
    code, output = invoke("run", "--tasks", "saddle", "--optims", "lion[lrr=0.1]", "--steps", "3")
    assert code == 2
    assert "optimizer 'lion' has no hyperparameter 'lrr'; did you mean 'lr'?" in output
    code, output = invoke("run", "--tasks", "saddle", "--optims", "lion[betas=2/0.5]", "--steps", "3")
    assert code == 2
    assert "plugin file plugins/lion.py: optimizer 'lion': factory raised ValueError: betas must be in [0, 1)" \
        in output


# ---------------------------------------------------------------------------------------------
# a plugin that never finishes importing is reported by file and skipped
# ---------------------------------------------------------------------------------------------

NEVER_FINISHES = {
    # blocks for ever on a pipe nobody writes to (its own write end stays open: no EOF)
    "on_a_pipe.py": "import os\nr, w = os.pipe()\nos.read(r, 1)\n",
    # spins in Python, and swallows ordinary exceptions while it does
    "spinning.py": "while True:\n    try:\n        pass\n    except Exception:\n        pass\n",
    # waits for ever on an event nobody sets
    "on_a_lock.py": "import threading\nthreading.Event().wait()\n",
}


# a plugin that imports nothing new (torch.optim's SGD is named, imported when first used): it loads in
# milliseconds, far inside the short limit below, however loaded the machine (the shipped lion.py imports
# torch, which can take longer than that under load)
QUICK = "import optbench\nquick = optbench.optimizer('quick', 'torch.optim:SGD', 'SGD under another name')\n"
SHORT_LIMIT = "1"


@pytest.fixture
def stuck_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./plugins with a quick plugin and three that never finish importing; a short import limit."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "quick.py").write_text(QUICK)
    for name, code in NEVER_FINISHES.items():
        (tmp_path / "plugins" / name).write_text(code)
    monkeypatch.setenv("OPTBENCH_PLUGIN_TIMEOUT", SHORT_LIMIT)
    return tmp_path / "plugins"


def test_a_plugin_that_never_finishes_importing_is_named_and_skipped(stuck_plugins: Path) -> None:
    code, output = invoke("list", "optimizers")
    assert code == 0 and "quick" in output and "radam" in output
    for name in NEVER_FINISHES:
        assert f"plugin file plugins/{name}: did not finish importing within {SHORT_LIMIT} s" in output, output
    assert "Traceback" not in output


def test_a_stuck_plugin_does_not_stop_a_run(stuck_plugins: Path, tmp_path: Path) -> None:
    for name in ("on_a_pipe.py", "on_a_lock.py"):
        (stuck_plugins / name).unlink()  # one is enough here
    code, output = invoke("run", "-t", "quadratic", "-o", "quick,sgd", "--steps", "5", "--seeds", "0",
                          "--threads", "1", "-q", "--out", str(tmp_path / "s"))
    assert code == 0, output
    assert "spinning.py: did not finish importing" in output


def test_the_timer_is_gone_after_loading(stuck_plugins: Path) -> None:
    import signal

    from optbench.registry import load_registry

    handler = signal.getsignal(signal.SIGALRM)
    registry = load_registry()
    assert len(registry.problems) == 3 and ("optimizer", "quick") in registry
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0) and signal.getsignal(signal.SIGALRM) is handler


def test_an_import_outside_the_main_thread_is_abandoned_on_time() -> None:
    import threading

    from optbench.registry import PluginTimeout, bounded_import

    release = threading.Event()
    outcome: list[BaseException] = []

    def load_elsewhere() -> None:
        try:
            bounded_import(release.wait, seconds=0.2)
        except PluginTimeout as exc:
            outcome.append(exc)

    worker = threading.Thread(target=load_elsewhere)
    worker.start()
    worker.join()
    release.set()  # lets the abandoned import end, so no thread outlives the test
    assert len(outcome) == 1


def test_the_plugin_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench.registry import PLUGIN_TIMEOUT, plugin_timeout

    for value, expected in (("2.5", 2.5), ("0", PLUGIN_TIMEOUT), ("soon", PLUGIN_TIMEOUT), ("nan", PLUGIN_TIMEOUT)):
        monkeypatch.setenv("OPTBENCH_PLUGIN_TIMEOUT", value)
        assert plugin_timeout() == expected
    monkeypatch.delenv("OPTBENCH_PLUGIN_TIMEOUT")
    assert plugin_timeout() == PLUGIN_TIMEOUT == 30

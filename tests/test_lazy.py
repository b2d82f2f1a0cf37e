"""Lazy factories: ``"module:name"`` entries import nothing until used, their defaults read from source are
exactly the signature's (for every builtin), and whatever the static reading is unsure of is imported."""

from __future__ import annotations

import inspect
import os
import pickle
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

import optbench
from optbench.entries import Entry
from optbench.errors import OptbenchError, PluginError
from optbench.lazy import LazyFactory, static_signature
from optbench.registry import load_plugin, load_registry

REPO = Path(optbench.__file__).resolve().parents[1]
BUILTINS = load_registry(plugin_dir=None, entry_points=False)
ALL_BUILTINS = [e for kind in ("optimizer", "schedule", "task") for e in BUILTINS.list(kind)]
LAZY_BUILTINS = [e for e in ALL_BUILTINS if isinstance(e.factory, LazyFactory)]


def _shape(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_every_builtin_torch_class_and_task_is_named_lazily() -> None:
    names = {e.name for e in LAZY_BUILTINS}
    assert names >= {"momentum", "adagrad", "rmsprop", "adam", "adamw", "radam", "quadratic", "saddle", "logistic"}
    assert "phoneme" in names or "phoneme" not in {e.name for e in ALL_BUILTINS}


@pytest.mark.parametrize("entry", LAZY_BUILTINS, ids=lambda e: e.name)
def test_static_reading_is_the_signature(entry: Entry) -> None:
    static = static_signature(entry.factory)
    assert static is not None, f"{entry.factory.reference} fell back to importing"  # listing stays torch-free
    assert _shape(static) == _shape(inspect.signature(entry.factory.load()))


@pytest.mark.parametrize("entry", ALL_BUILTINS, ids=lambda e: e.name)
def test_resolved_defaults_are_those_of_the_imported_factory(entry: Entry) -> None:
    # what a trial's identity hashes, key order included, is what it was with the factory given eagerly
    factory = entry.factory.load() if isinstance(entry.factory, LazyFactory) else entry.factory
    eager = replace(entry, factory=factory)
    assert list(entry.resolved().items()) == list(eager.resolved().items())
    assert list(entry.resolved({"lr": 0.5} if entry.kind == "optimizer" else {}).items()) == \
        list(eager.resolved({"lr": 0.5} if entry.kind == "optimizer" else {}).items())


def test_a_lazy_factory_is_callable_comparable_and_pickles_as_its_reference() -> None:
    import torch

    adam = LazyFactory("torch.optim:Adam")
    assert adam.load() is torch.optim.Adam and adam == LazyFactory("torch.optim:Adam")
    assert pickle.loads(pickle.dumps(adam)) == adam
    opt = adam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert isinstance(opt, torch.optim.Adam)
    assert inspect.signature(adam).parameters["lr"].default == 1e-3  # inspect follows __wrapped__


@pytest.mark.parametrize(("reference", "message"), [
    ("torch.optim.Adam", "is 'module:name'"),
    ("torch optim:Adam", "is 'module:name'"),
    ("no_such_module_xyz:Thing", "no module named 'no_such_module_xyz'"),
])
def test_a_bad_reference_is_refused_when_the_entry_is_made(reference: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optbench.optimizer("x", reference, "bad reference")


def test_a_missing_name_is_one_line_when_first_used() -> None:
    entry = optbench.optimizer("x", "optbench.optimizers:no_such_thing", "missing attribute")
    with pytest.raises(OptbenchError, match="cannot be imported: AttributeError"):
        entry.resolved()


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run_isolated(root: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter with ``root`` on the path (so imports are the code's alone)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=root, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{REPO}"})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_static_reading_follows_re_exports_without_running_the_package(tmp_path: Path) -> None:
    write_package(tmp_path, {
        "lazypkg/__init__.py": "raise RuntimeError('executed')\nfrom lazypkg.impl import Opt as Opt\n",
        "lazypkg/impl.py": """
            raise RuntimeError('executed')
            class Opt:
                def __init__(self, params, lr=0.1, betas=(0.9, -0.5), *, flag=None, **extra):
                    pass
            """,
    })
    out = run_isolated(tmp_path, """
        import sys, optbench
        entry = optbench.optimizer("opt", "lazypkg:Opt", "read, not run")
        print(entry.resolved(), sorted(m for m in sys.modules if m.startswith("lazypkg")))
        """)
    assert out == "{'lr': 0.1, 'betas': (0.9, -0.5), 'flag': None} []"


@pytest.mark.parametrize("source", [
    "LR = 0.5\ndef make(params, lr=LR):\n    pass\n",  # a default that is not a literal
    "import functools\n@functools.lru_cache\ndef make(params, lr=0.5):\n    pass\n",  # a decorator
    "def make(params, lr=0.1):\n    pass\ndef make(params, lr=0.5):\n    pass\n",  # bound twice
    "class Base:\n    def __init__(self, params, lr=0.5):\n        pass\nclass make(Base):\n    pass\n",  # inherited
    "class make:\n    def __new__(cls, params, lr=0.5):\n        return object.__new__(cls)\n",  # __new__
    "class Meta(type):\n    pass\nclass make(metaclass=Meta):\n    def __init__(self, params, lr=0.5):\n"
    "        pass\n",
    "def make(params, lr=0.1):\n    pass\nfrom fallback_helper import *\n",  # a star import may rebind it
])
def test_what_the_static_reading_is_unsure_of_is_imported(tmp_path: Path, source: str) -> None:
    write_package(tmp_path, {"fallback_mod.py": source,
                             "fallback_helper.py": "def make(params, lr=0.5):\n    pass\n"})
    out = run_isolated(tmp_path, """
        import sys, optbench
        from optbench.lazy import static_signature
        entry = optbench.optimizer("opt", "fallback_mod:make", "imported to be sure")
        print(static_signature(entry.factory), entry.resolved()["lr"], "fallback_mod" in sys.modules)
        """)
    assert out == "None 0.5 True"


def test_a_plugin_with_a_lazy_factory_lists_without_importing_it(tmp_path: Path) -> None:
    write_package(tmp_path, {
        "plugins/lazy_plugin.py": """
            import optbench
            LAZY = optbench.optimizer("lazyadamw", "torch.optim:AdamW", "AdamW named by reference")
            BROKEN = optbench.optimizer("broken", "plugin_impl:Broken", "imports fail at first use")
            """,
        "plugin_impl.py": "raise RuntimeError('no GPU here')\n",
    })
    out = run_isolated(tmp_path, """
        import sys
        from optbench.registry import load_registry
        registry = load_registry()
        entry = registry.get("optimizer", "lazyadamw")
        print(entry.source, entry.resolved()["weight_decay"], "torch" in sys.modules, registry.problems)
        """)
    assert out == "file plugins/lazy_plugin.py 0.01 False []"


def test_a_plugin_factory_that_fails_to_import_names_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "plugin_impl.py").write_text("raise RuntimeError('no GPU here')\n")
    plugin = tmp_path / "lazy_plugin.py"
    plugin.write_text("import optbench\nBROKEN = optbench.optimizer('broken', 'plugin_impl:Broken', 'x')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        registry = load_registry(plugin_dir=None, entry_points=False)
        load_plugin(registry, plugin)
        broken = registry.get("optimizer", "broken")
        message = f"plugin file {plugin}: factory 'plugin_impl:Broken' cannot be imported: RuntimeError: no GPU here"
        for use in (broken.resolved, lambda: broken.create([])):
            with pytest.raises(PluginError) as caught:
                use()
            assert str(caught.value) == message
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("plugin_impl", None)


def test_a_plugin_naming_a_missing_module_is_isolated(tmp_path: Path) -> None:
    plugin = tmp_path / "missing.py"
    plugin.write_text("import optbench\nX = optbench.optimizer('x', 'no_such_module_xyz:Opt', 'x')\n")
    registry = load_registry(plugin_dir=None, entry_points=False)
    load_plugin(registry, plugin)
    assert [p.origin for p in registry.problems] == [f"file {plugin}"]
    assert "no module named 'no_such_module_xyz'" in registry.problems[0].problem
    assert ("optimizer", "adam") in registry  # the rest still works


def test_editing_a_lazily_named_module_makes_new_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``optbench.optimizer("x", "mymod:make")``: the module's file is hashed into the code version, so an
    edit runs again instead of reusing the stored trial (its numbers were the old code's)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    module = tmp_path / "mymod_scaled_sgd.py"
    source = "import torch\n\ndef make(params, lr=0.1):\n    return torch.optim.SGD(params, lr=lr * {})\n"

    def run_with(scale: str) -> tuple[str, float]:
        module.write_text(source.format(scale))
        sys.modules.pop("mymod_scaled_sgd", None)  # a new process would import the edited file
        registry = load_registry(plugin_dir=None)
        registry.add(optbench.optimizer("scaled", "mymod_scaled_sgd:make", "SGD with a scaled lr"))
        assert registry.get("optimizer", "scaled").code_version.startswith("mymod_scaled_sgd ")
        row = optbench.run("quadratic[noise=0]", "scaled", seeds="0", steps=20, threads=1, out=tmp_path / "s",
                           registry=registry).iloc[0]
        return row.trial_id, row.final_train_loss

    first, second = run_with("1.0"), run_with("0.25")
    assert first[0] != second[0] and first[1] != second[1]  # a new trial with the edited code's numbers
    assert len(optbench.load(tmp_path / "s").trials) == 2
    assert run_with("0.25") == second  # unchanged code: the stored trial is reused


def test_a_lazy_factory_in_optbench_itself_is_optbenchs_version() -> None:
    entry = optbench.task("mine", "optbench.tasks.toy:saddle", "a builtin surface under another name")
    registry = load_registry(plugin_dir=None)
    registry.add(entry)
    # optbench's own module: optbench's version (and torch's) stands for it, no file hash
    builtin = registry.get("task", "quadratic").code_version
    assert registry.get("task", "mine").code_version == builtin

"""The registry: case-insensitive names, aliases, suggestions, and plugins that fail without harm."""

from __future__ import annotations

import re

import pytest
import torch

import optbench
from optbench.errors import PluginError, UnknownNameError
from optbench.registry import Registry, load_registry


def test_builtins_are_registered_case_insensitively_with_aliases() -> None:
    registry = load_registry()
    assert {e.name for e in registry.list("optimizer")} >= {"sgd", "momentum", "adagrad", "rmsprop", "adam", "radam"}
    assert {e.name for e in registry.list("schedule")} >= {
        "constant", "step", "exponential", "cosine", "cosine-restarts", "warmup-linear", "warmup-cosine",
        "inverse-sqrt"}
    assert {e.name for e in registry.list("task")} >= {"quadratic", "saddle", "monkey-saddle", "rosenbrock",
                                                       "himmelblau"}
    assert registry.get("optimizer", "ADAM").name == "adam"
    assert registry.get("optimizer", "SGDM").name == "momentum"
    assert registry.get("schedule", "SGDR").name == "cosine-restarts"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'rmsprop'"):
        load_registry().get("optimizer", "rmsprob")


def test_entries_are_immutable_and_validated() -> None:
    entry = load_registry().get("optimizer", "adam")
    with pytest.raises(AttributeError):
        entry.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.defaults["lr"] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="spec syntax"):
        optbench.optimizer("bad[name]", torch.optim.SGD, "x")
    with pytest.raises(ValueError, match="lr_range"):
        optbench.optimizer("ok", torch.optim.SGD, "x", lr_range=(1.0, 0.1))


def test_duplicate_names_are_rejected_with_both_sources() -> None:
    registry = Registry()
    registry.add(optbench.optimizer("mine", torch.optim.SGD, "first"))
    with pytest.raises(PluginError, match="already registered"):
        registry.add(optbench.optimizer("MINE", torch.optim.SGD, "second"))


def test_plugins_folder_and_explicit_plugins(tmp_path, monkeypatch) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "good.py").write_text(
        "import torch, optbench\n"
        "signsgd = optbench.optimizer('signsgd', lambda p, lr=0.01: torch.optim.SGD(p, lr=lr), 'demo',\n"
        "                             {'lr': 0.01}, lr_range=(1e-4, 1e-1))\n")
    (tmp_path / "plugins" / "broken.py").write_text("def oops(:\n")
    (tmp_path / "plugins" / "raises.py").write_text("raise RuntimeError('no GPU here')\n")
    (tmp_path / "plugins" / "empty.py").write_text("x = 1\n")
    (tmp_path / "plugins" / "dup.py").write_text(
        "import torch, optbench\nsgd = optbench.optimizer('sgd', torch.optim.SGD, 'clash')\n")
    extra = tmp_path / "extra.py"
    extra.write_text("import optbench\nfrom optbench.schedules import constant\n"
                     "flat = optbench.schedule('flat', constant, 'same as constant')\n")
    monkeypatch.chdir(tmp_path)
    registry = load_registry(plugins=[extra])
    entry = registry.get("optimizer", "signsgd")
    assert entry.source == "file plugins/good.py" and entry.lr_range == (1e-4, 1e-1)
    assert registry.get("schedule", "flat").source == f"file {extra}"
    problems = {p.origin: p.problem for p in registry.problems}
    assert "syntax error at line 1" in problems["file plugins/broken.py"]
    assert "RuntimeError: no GPU here (line 1)" in problems["file plugins/raises.py"]
    assert "defines no optbench entries" in problems["file plugins/empty.py"]
    assert "already registered by builtin" in problems["file plugins/dup.py"]
    assert registry.get("optimizer", "sgd").source == "builtin"  # the builtin survives the clash


def test_missing_plugin_module_is_reported() -> None:
    registry = load_registry(plugins=["no_such_module_xyz"])
    assert any("ModuleNotFoundError" in p.problem and "no_such_module_xyz" in p.origin for p in registry.problems)


def test_resolved_merges_signature_then_entry_defaults_then_the_users() -> None:
    import json

    registry = load_registry(plugin_dir=None)
    adam = registry.get("optimizer", "adam")
    assert adam.factory.load() is torch.optim.Adam and not adam.defaults  # torch's signature is the home of defaults
    resolved = adam.resolved({"lr": 3e-4})
    assert resolved["lr"] == 3e-4 and resolved["betas"] == (0.9, 0.999) and resolved["eps"] == 1e-8
    json.dumps(resolved)  # JSON-able: the trial identity hashes it
    momentum = registry.get("optimizer", "momentum").resolved()
    assert (momentum["lr"], momentum["momentum"], momentum["dampening"]) == (0.01, 0.9, 0)
    assert registry.get("optimizer", "rmsprop").resolved()["lr"] == 0.001  # the one departure from torch (0.01)
    assert registry.get("optimizer", "sgd").resolved() == {"lr": 0.01, "weight_decay": 0.0}  # momentum fixed at 0
    opt = adam.create([torch.nn.Parameter(torch.zeros(1))], betas=[0.9, 0.98])  # a JSON list becomes a tuple
    assert opt.param_groups[0]["betas"] == (0.9, 0.98)


def test_no_entry_restates_a_default_its_signature_already_has() -> None:
    registry = load_registry(plugin_dir=None)
    for kind in ("optimizer", "schedule", "task"):
        for entry in registry.list(kind):
            signature = entry.signature_defaults()
            restated = {k for k, v in entry.defaults.items() if k in signature and signature[k] == v}
            assert not restated, (entry.name, restated)  # one home per default, so nothing can drift


def test_schedule_defaults_live_in_the_signature_only() -> None:
    registry = load_registry(plugin_dir=None)
    for entry in registry.list("schedule"):
        assert not entry.defaults, entry.name  # nothing restated, so nothing can drift
    noam = registry.get("schedule", "inverse-sqrt")
    assert noam.resolved() == {"warmup": 0.1}
    values = [noam.create(1000)(s) for s in range(1000)]
    assert values.index(max(values)) == 99  # warm-up 0.1 of the run: what the signature says is what runs


def test_code_version_names_the_code_behind_each_entry(tmp_path, monkeypatch) -> None:
    registry = load_registry(plugin_dir=None)
    # builtins: optbench's version and torch's, so a torch upgrade does not reuse stored trials
    builtin = f"optbench {optbench.__version__} torch {torch.__version__}"
    assert registry.get("optimizer", "adam").code_version == builtin
    assert registry.get("task", "saddle").code_version.endswith(f"torch {torch.__version__} surfaces 2")
    plugin = tmp_path / "mine.py"
    plugin.write_text("import torch, optbench\nmine = optbench.optimizer('mine', torch.optim.SGD, 'v1')\n")
    first = load_registry(plugins=[plugin], plugin_dir=None).get("optimizer", "mine").code_version
    assert len(first) == 16 and int(first, 16) >= 0
    plugin.write_text("import torch, optbench\nmine = optbench.optimizer('mine', torch.optim.Adam, 'v2')\n")
    second = load_registry(plugins=[plugin], plugin_dir=None).get("optimizer", "mine").code_version
    assert second != first  # editing the plugin changes its identity


def test_did_you_mean_is_one_helper() -> None:
    from optbench.errors import did_you_mean

    assert did_you_mean("rmsprob", ["rmsprop", "adam"]) == "; did you mean 'rmsprop'?"
    assert did_you_mean("zzz", ["rmsprop", "adam"]) == ""


def test_entries_catalogue_and_builtins_do_not_import_the_registry() -> None:
    # registry -> builtins/catalogue -> entries is one-way: none of these imports optbench.registry at runtime.
    import ast
    from pathlib import Path

    root = Path(optbench.__file__).parent
    for name in ("entries.py", "optimizers.py", "schedules.py", "catalogue.py", "errors.py", "spec.py"):
        tree = ast.parse((root / name).read_text())
        imported = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        assert "optbench.registry" not in imported, name


def test_a_store_written_with_older_code_versions_still_reads_and_is_not_reused(tmp_path, monkeypatch) -> None:
    from optbench import registry as registry_module

    store = tmp_path / "s"
    monkeypatch.setattr(registry_module, "optbench_code_version", lambda: f"optbench {optbench.__version__}")
    old = optbench.run("quadratic", "sgd", seeds="0", steps=5, threads=1, out=store)  # before torch was in it
    monkeypatch.undo()
    new = optbench.run("quadratic", "sgd", seeds="0", steps=5, threads=1, out=store)
    assert new.iloc[0].trial_id != old.iloc[0].trial_id  # ran anew: the old trial matches no new id
    stored = optbench.load(store).trials
    assert set(stored.trial_id) == {old.iloc[0].trial_id, new.iloc[0].trial_id}
    rows = stored.set_index("trial_id")
    before, after = rows.loc[old.iloc[0].trial_id], rows.loc[new.iloc[0].trial_id]
    assert before.status == "completed" and "torch" not in before.code
    assert f"torch {torch.__version__}" in after.code


# ---------------------------------------------------------------------------------------------
# hyperparameter domains
# ---------------------------------------------------------------------------------------------

def test_domains_print_as_intervals() -> None:
    from optbench.entries import AVERAGING, NON_NEGATIVE, POSITIVE, Domain

    assert [str(d) for d in (AVERAGING, NON_NEGATIVE, POSITIVE, Domain(0, 1, low_open=True))] == \
        ["[0, 1)", "[0, inf)", "(0, inf)", "(0, 1]"]
    assert 0 in AVERAGING and 1 not in AVERAGING and 0 not in POSITIVE and "word" in POSITIVE


@pytest.mark.parametrize("kind", ["optimizer", "schedule"])
def test_every_builtin_default_lies_in_its_domain_and_a_value_beyond_is_refused(kind: str) -> None:
    from optbench.errors import SpecError

    registry = load_registry(plugin_dir=None, entry_points=False)
    checked = 0
    for entry in registry.list(kind):
        resolved = entry.resolved()
        for key, domain in entry.domains.items():
            name, _, index = key.partition(".")
            value = resolved[name] if not index else resolved[name][int(index)]
            assert value in domain, (entry.name, key, value, str(domain))
            beyond = domain.high + 1 if domain.high != float("inf") else domain.low - 1
            bad = beyond if not index else tuple(beyond if i == int(index) else v
                                                 for i, v in enumerate(resolved[name]))
            with pytest.raises(SpecError, match=rf"{key}={re.escape(str(beyond))} is outside its domain"):
                entry.resolved({name: bad})
            checked += 1
    assert checked >= (20 if kind == "optimizer" else 10)

"""The pytorch-optimizer catalogue adapter: lazy tpo.* resolution, listing, running, checking, and the
clear error when the extra is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import optbench
from optbench import catalogue
from optbench.cli import main
from optbench.conformance import check_entry
from optbench.errors import UnknownNameError
from optbench.registry import load_registry

needs_catalogue = pytest.mark.skipif(not catalogue.available(), reason="needs the 'catalogue' extra")


@needs_catalogue
def test_tpo_names_resolve_lazily_to_catalogue_optimizers() -> None:
    from pytorch_optimizer import Lion

    registry = load_registry(plugin_dir=None)
    assert ("optimizer", "tpo.lion") not in registry  # nothing from the catalogue until asked for
    entry = registry.get("optimizer", "TPO.Lion")
    assert entry.name == "tpo.lion" and entry.source.startswith("catalogue pytorch-optimizer")
    assert entry.resolved()["lr"] == 1e-4 and entry.lr_range == (1e-6, 1e-2) and not entry.defaults
    opt = entry.create([torch.nn.Parameter(torch.zeros(3))], betas=[0.9, 0.98])
    assert isinstance(opt, Lion) and opt.param_groups[0]["betas"] == (0.9, 0.98)


@needs_catalogue
def test_unknown_catalogue_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tpo.lion'"):
        load_registry(plugin_dir=None).get("optimizer", "tpo.lino")


def test_missing_extra_gives_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "available", lambda: False)
    result = CliRunner().invoke(main, ["run", "--tasks", "saddle", "--optims", "tpo.lion", "--steps", "3"])
    assert result.exit_code == 2
    assert "pytorch-optimizer catalogue, which is not installed: pip install 'optbench[catalogue]'" in result.output


@needs_catalogue
def test_catalogue_schedule_matches_torch_scheduler() -> None:
    multiplier = load_registry(plugin_dir=None).get("schedule", "tpo.cosine_annealing").create(50)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    expected = []
    for _ in range(50):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        reference.step()
    assert [multiplier(step) for step in range(50)] == pytest.approx(expected, rel=1e-12)
    assert multiplier(10) == pytest.approx(expected[10])  # asking again, out of order, is fine


@needs_catalogue
def test_list_all_shows_the_catalogue_and_plain_list_does_not() -> None:
    with_all = CliRunner().invoke(main, ["list", "optimizers", "--all"], terminal_width=200)
    plain = CliRunner().invoke(main, ["list", "optimizers"], terminal_width=200)
    assert with_all.exit_code == 0 and plain.exit_code == 0
    assert "tpo.adabelief" in with_all.output and "tpo.adabelief" not in plain.output


@needs_catalogue
def test_plain_list_does_not_import_the_catalogue(tmp_path: Path) -> None:
    code = ("import sys; from click.testing import CliRunner; from optbench.cli import main; "
            "r = CliRunner().invoke(main, ['list', 'optimizers']); assert r.exit_code == 0, r.output; "
            "print('pytorch_optimizer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "False"


@needs_catalogue
def test_run_with_catalogue_optimizer_and_schedule(tmp_path: Path) -> None:
    trials = optbench.run("quadratic[dim=4,n=8]", "tpo.lion[lr=0.01],tpo.adabelief", "tpo.rex", steps=40,
                          out=tmp_path / "res", device="cpu", seeds="0")
    assert set(trials["status"]) == {"completed"}
    assert set(trials["optimizer"]) == {"tpo.lion", "tpo.adabelief"}
    lrs = optbench.load(tmp_path / "res").metrics.query("metric == 'lr'")["value"]
    assert lrs.max() <= 0.01 + 1e-12 and lrs.min() >= 0


@needs_catalogue
@pytest.mark.parametrize(("name", "passes"), [("tpo.adamp", True), ("tpo.a2grad", False)])
def test_catalogue_entries_are_checked(name: str, passes: bool) -> None:
    results = check_entry(load_registry(plugin_dir=None).get("optimizer", name))
    assert all(r.passed for r in results) is passes
    if not passes:  # A2Grad keeps no 'lr' in its param groups, so no schedule could drive it
        assert "has no 'lr' key" in results[0].reason


@needs_catalogue
def test_check_command_exit_codes_for_catalogue() -> None:
    assert CliRunner().invoke(main, ["check", "tpo.adamp"]).exit_code == 0
    assert CliRunner().invoke(main, ["check", "tpo.a2grad"]).exit_code == 1


@needs_catalogue
def test_catalogue_conformance_script_writes_the_table(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        import catalogue_conformance
    finally:
        sys.path.pop(0)
    out = tmp_path / "table.md"
    assert catalogue_conformance.main(["--only", "adamp", "a2grad", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| `tpo.adamp` | pass |" in text
    assert "| `tpo.a2grad` | FAIL | **constructs from defaults**: param_groups[0] has no 'lr' key" in text
    assert "1 of 2 optimizers of pytorch-optimizer" in text

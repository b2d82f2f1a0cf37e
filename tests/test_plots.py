"""The seaborn plots of ``optbench.load(store)``: the artists each figure must hold, read from the judge's
tables and the declarations (one line per configuration, a band per configuration with >= 2 seeds, the
target line, diverged trials faded)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

import optbench  # noqa: E402
from optbench.errors import OptbenchError  # noqa: E402
from optbench.plots import FADED  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> optbench.Results:
    path = tmp_path_factory.mktemp("plots") / "store"
    # sgd lr=3 diverges on both quadratics; two κ make a κ sweep and two tasks for the profile; momentum
    # reaches the target at both, sgd[lr=1] at κ=10 only
    optbench.run("quadratic[kappa=10|100]", "sgd[lr=1|3],momentum[lr=0.3]", steps=300, seeds="0-1", out=path,
                 threads=1)
    return optbench.load(path)


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    yield
    plt.close("all")


def _drawn(ax) -> list:
    """Lines drawn with data (seaborn adds empty ones as legend handles, errorbar an invisible one)."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) and line.get_linestyle() != "None"]


def test_curves_draw_each_configuration_its_band_the_target_and_faded_divergences(results) -> None:
    verdicts = results.verdicts()
    target = next(iter(results.declarations().values())).target
    grid = results.plot_curves(target.metric)
    assert set(grid.axes_dict) == set(verdicts.trials["task_key"])
    for task, ax in grid.axes_dict.items():
        mine = verdicts.trials[verdicts.trials["task_key"] == task]
        done = mine[mine["status"] == "completed"].groupby("config")["seed"].nunique()
        lines = _drawn(ax)
        solid = [line for line in lines if line.get_alpha() is None and line.get_gid() != "target"]
        faded = [line for line in lines if line.get_alpha() == FADED]
        assert len(solid) == len(done)  # one median line per configuration with a completed seed
        assert len(faded) == int((mine["status"] == "diverged").sum()) > 0
        bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(bands) == int((done >= 2).sum())
        targets = [line for line in lines if line.get_gid() == "target"]
        assert len(targets) == 1 and targets[0].get_ydata()[0] == target.value
        assert "lower is better" in ax.get_ylabel()
        assert ax.get_ylim()[1] < max(max(line.get_ydata()) for line in faded)  # they never set the range


def test_curves_default_to_each_task_s_headline(results) -> None:
    grid = results.plot_curves()
    headline = next(iter(results.declarations().values())).headline_metric
    for ax in grid.axes_dict.values():
        assert ax.get_ylabel().startswith(headline.label)
        assert not [line for line in ax.get_lines() if line.get_gid() == "target"]  # target is on another metric
    assert grid.axes_dict["quadratic[kappa=10]"].get_yscale() == "log"  # the suboptimality falls by decades


def test_profile_has_one_step_line_per_configuration(results) -> None:
    grid = results.plot_profile()
    configs = set(results.verdicts().configs["config"])
    assert len(_drawn(grid.ax)) == len(configs)
    assert {t.get_text() for t in grid.legend.get_texts()} == configs
    assert grid.ax.get_xscale() == "log"


def test_kappa_has_one_line_per_configuration_that_reached_on_log_axes(results) -> None:
    grid = results.plot_kappa()
    configs = results.verdicts().configs
    assert len(_drawn(grid.ax)) == configs.loc[np.isfinite(configs["steps_median"]), "config"].nunique()
    assert grid.ax.get_xscale() == grid.ax.get_yscale() == "log"
    assert any("slope" in t.get_text() for t in grid.legend.get_texts())


def test_sensitivity_marks_diverged_lrs(results) -> None:
    grid = results.plot_sensitivity()
    for ax in grid.axes_dict.values():
        assert ax.get_xscale() == "log"
        assert len([line for line in _drawn(ax) if line.get_gid() != "diverged"]) == 1  # the one sgd lr grid
        assert len([line for line in ax.get_lines() if line.get_gid() == "diverged"]) == 1  # lr=3
        assert "lower is better" in ax.get_ylabel()


def test_what_cannot_be_drawn_is_one_line(results) -> None:
    with pytest.raises(OptbenchError, match="no trial recorded 'accuracy'"):
        results.plot_curves("accuracy")
    with pytest.raises(OptbenchError, match="x must be"):
        results.plot_curves(x="wall")
    with pytest.raises(OptbenchError, match="by must be"):
        results.plot_profile(by="epochs")

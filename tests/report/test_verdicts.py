"""What the report concludes, on stores whose outcome is known by construction (builders.py):
declared directions, targets, divergence, seeds, diagnostics, κ slopes, fallbacks for old stores."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from optbench.report import figures, summary
from optbench.report.data import load_stores, seed_curves


def _text(html_path: Path) -> str:
    """The page's text with tags dropped and whitespace collapsed (entities as the template writes them)."""
    html = re.sub(r"<svg.*?</svg>", " ", html_path.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_max_direction_metric_named_score_is_ranked_by_its_declaration(built_reports):
    data = load_stores([built_reports["score_store"]])
    info = data.infos["scoretask"]
    assert (info.headline, info.direction) == ("score", "max")
    verdict = summary.verdict_row(data, "scoretask")
    # "lossy" has the lower training loss: a name- or loss-based ranking would pick it
    assert verdict["headline_leader"].startswith("good[") and verdict["headline_verdict"] == "dominates"
    sentence = summary.task_summary(data, "scoretask")[0]
    assert sentence.startswith("On score (higher is better), no winner is claimed: good[lr=0.1]")
    assert "ahead of lossy[lr=0.1] · constant · bs=32 on all 3 seeds" in sentence and "p = 0.10" in sentence
    page = _text(built_reports["score"])
    assert "good[lr=0.1] · constant · bs=32 ★ leader (not established)" in page
    assert "lossy[lr=0.1] · constant · bs=32 ★" not in page


def test_diverged_trials_are_counted_and_left_out_of_every_median(built_reports):
    data = load_stores([built_reports["score_store"]])
    blown = data.trials[data.trials["optimizer"] == "blowup"]
    assert (blown["status"] == "diverged").all() and blown["headline_best"].isna().all()
    assert (blown["steps_to_target"] == math.inf).all()  # a diverged seed never reached the target
    curves = seed_curves(data, "scoretask", "train_loss")
    assert "blowup" not in set(curves["optimizer"]) and curves["median"].max() < 2  # 1e28 never sets the axis
    sentences = summary.task_summary(data, "scoretask")
    assert "blowup[lr=10] · constant · bs=32 diverged in 3 of 3 seeds at step 7" in sentences[2]
    assert sentences[1].startswith("good[lr=0.1] · constant · bs=32 reached the target (score ≥ 0.8) first")


def test_one_seed_never_stars_without_saying_so(built_reports):
    page = _text(built_reports["one_seed"])
    stars = [m.end() for m in re.finditer("★ leader", page)]
    assert stars, "the leader is still marked"
    assert all(page[end:].startswith(" (not established)") for end in stars) and "★ winner" not in page
    assert "one seed: no noise estimate, not a verdict" in page
    assert "exact permutation test over the seed labels" in page  # the one-sentence explanation of the flag


def test_diagnosis_table_appears_and_diagnostics_stay_out_of_convergence(built_reports):
    data = load_stores([built_reports["saddle_store"]])
    assert not any(m.startswith(("hess_", "diag_")) or m == "eps_sharpness" for m in data.curve_metrics("saddle"))
    page = _text(built_reports["saddle"])
    assert "Diagnosis" in page and " saddle " in page and "fraction λ &lt; 0" in page
    assert "Trajectories on the surface" in page and "✖ saddle" in page
    html = built_reports["score"].read_text()
    assert ">Diagnosis<" not in html  # no diagnostics recorded, no table


def test_kappa_sweep_slopes_match_theory(built_reports):
    data = load_stores([built_reports["kappa_store"]])
    slopes = figures.kappa_slopes(figures.kappa_table(data))
    assert slopes[("quadratic", "gd")] == pytest.approx(1.0, abs=0.05)
    assert slopes[("quadratic", "heavyball")] == pytest.approx(0.5, abs=0.05)
    assert "Steps to target against the condition number κ" in built_reports["kappa"].read_text()


def _as_old_store(store, out):
    """A copy of ``store`` as optbench wrote it before tasks declared their metrics."""
    import shutil

    import pyarrow.parquet as pq

    shutil.copytree(store, out)
    shutil.rmtree(out / "tasks")
    for path in (out / "trials").glob("*.parquet"):
        table = pq.read_table(path)
        old = [c for c in table.column_names if c.startswith(("headline_", "target_"))]
        pq.write_table(table.drop_columns(old), path)
    return out


def test_declared_target_is_used_and_old_stores_get_labelled_fallbacks(built_reports, hostile_store, tmp_path):
    from optbench.report import build_report

    data = load_stores([built_reports["kappa_store"]])
    target = data.infos["quadratic[kappa=10]"].target
    assert target["value"] == 1e-3 and target["direction"] == "min"
    old = _as_old_store(hostile_store, tmp_path / "old")
    page = _text(build_report([old], tmp_path / "old.html"))
    assert "this store declares no metrics" in page
    assert "reached the target" not in page and "derived" not in page  # no target is guessed for it


def test_setup_lists_resolved_parameters_and_folds_identical_reruns(built_reports):
    html = built_reports["phoneme"].read_text()
    assert html.count("Run started") == 1 and "2 identical reruns" in html
    page = _text(built_reports["phoneme"])
    assert "alpha=0.99, eps=1e-08, lr=0.001" in page
    assert "built-in synthetic corpus v1 (seed 0)" in page and "concat=5, preset=tiny" in page
    assert "equal updates" in page and "equal epochs" in page and "generalization gap" in page.lower()


@pytest.mark.parametrize(("values", "scale"), [
    (np.geomspace(10, 1e-6, 50), "log"),                          # a converging loss
    (np.concatenate([[0.0], np.geomspace(10, 1e-6, 50)]), "symlog"),  # the same reaching 0 exactly
    (0.9 * (1 - np.exp(-np.arange(50) / 5)) + 1e-4, "linear"),   # an accuracy climbing from near 0
    ([0.0, 0.0, 0.0], "linear"),
])
def test_axis_scale_is_chosen_from_the_data(values, scale):
    fig, ax = plt.subplots()
    assert figures.set_scale(ax, "y", values) == scale
    plt.close(fig)


def test_ticks_are_plain_short_numbers():
    assert figures._plain(2048.0) == "2.05e3" and figures._plain(0.001) == "0.001"
    assert not math.isnan(float(figures._plain(131072.0)))


def test_load_average_above_the_cores_is_a_warning(built_reports, tmp_path):
    import json
    import shutil

    store = tmp_path / "busy"
    shutil.copytree(built_reports["score_store"], store)
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["runs"][0]["environment"].update(load_avg=[9.5, 6.0, 3.0], cpu_count=2)
    (store / "manifest.json").write_text(json.dumps(manifest))
    data = load_stores([store])
    assert any("load average 9.50 exceeded the 2 cores" in w for w in summary.load_warnings(data))


@pytest.mark.parametrize("name", ["score", "one_seed", "phoneme", "kappa", "saddle"])
def test_every_built_report_is_well_formed_and_self_contained(built_reports, name):
    import html5lib

    html = built_reports[name].read_text()
    html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert len(re.findall(r"<script\b", html)) == 1


def test_configurations_below_the_metric_s_resolution_tie_instead_of_one_winning(tmp_path):
    import optbench
    from optbench.report import build_report

    store = tmp_path / "floor"
    trials = optbench.run("quadratic[kappa=10,noise=0]", "sgd[lr=1.818],momentum[lr=2.31,momentum=0.27]", steps=400,
                          seeds="0-1", out=store, threads=1)
    assert (trials["final_suboptimality"] <= 1e-20).all()  # both at or below the declared 1e-20 resolution
    data = load_stores([store])
    sentence = summary.task_summary(data, data.tasks[0])[0]
    assert "a tie:" in sentence and "equal at the metric's resolution (1e-20)" in sentence
    assert "wins" not in sentence
    page = _text(build_report([store], tmp_path / "floor.html"))
    assert "= tie with the leader" in page and "★ leader" in page  # the table marks the (tied) first row

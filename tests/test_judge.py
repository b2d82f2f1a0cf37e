"""One judge, read the same everywhere: the console, the report's page, ``--json``, the API, ``suite score``
and the suite report give the same steps-to-target medians, reached counts, winners and scores on the same
stores, built by real runs to cover every case: seeds that never reach, a diverged seed, a tie at the
resolution, identical seeds, a plugin edited between runs, subset and full evaluations, a suite store."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import optbench
from optbench.cli import main
from optbench.declaration import Metric, Target
from optbench.judge import first_reached, judge, to_target_text

PLUGIN = '''
import math
import torch
import optbench
from optbench.tasks.base import Parameters

STEP_SCALE = {scale}  # edited between the two runs: the same label, another code version


class PlainSGD(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        super().__init__(params, {{"lr": lr}})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"] * STEP_SCALE)


class SeedBowl(optbench.Task):
    """1/2 c theta^2 with c = 1 + seed: at lr 0.9 seed 2 diverges (|1 - 2.7| > 1)."""

    n_train = 1
    metrics = (optbench.Metric("dist", "min", "distance to 0", kind="step", resolution=1e-12),
               optbench.Metric("score_subset", "max", "score (subset)", evaluated_on="a subset, during training"),
               optbench.Metric("score", "max", "score", evaluated_on="everything, at the end"))
    headline = "score"
    eval_every_default = None

    def init_model(self, seed):
        model = Parameters(torch.ones(1, dtype=torch.float64))
        model.register_buffer("c", torch.tensor(1.0 + seed, dtype=torch.float64))
        return model

    def train_batch(self, indices):
        return indices

    def loss(self, model, batch):
        return 0.5 * model.c * (model.theta ** 2).sum()

    def step_metrics(self, model):
        return {{"dist": float(model.theta.detach().abs().sum())}}

    def evaluate(self, model, final=True):
        score = math.exp(-float(model.theta.detach().abs().sum()))
        return {{"score_subset": round(score, 3), **({{"score": score}} if final else {{}})}}

    def target(self):
        return optbench.Target("score_subset", 0.99, "score on the subset >= 0.99")


PLAIN = optbench.optimizer("plainsgd", PlainSGD, "plain SGD", lr_range=(1e-3, 1.0))
BOWL = optbench.task("seedbowl", SeedBowl, "a bowl whose curvature is the seed")
'''


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), terminal_width=400)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    from optbench.console import console

    monkeypatch.setattr(console, "width", 400)  # one table row per line


@pytest.fixture(scope="module")
def judged_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store covering every case, and the console output of the run that completed it."""
    folder = tmp_path_factory.mktemp("judge")
    plugin, store = folder / "plain.py", folder / "store"
    command = ["run", "-t", "seedbowl,rosenbrock,quadratic[kappa=10,noise=0]",
               "-o", "plainsgd[lr=0.9|0.01],sgd[lr=0.001|1|1.5],adam[lr=0.01]", "--steps", "400",
               "--eval-every", "1", "--out", str(store), "--threads", "1", "--plugin", str(plugin), "--seeds", "0-2"]
    from optbench.console import console

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(console, "width", 400)  # one table row per line
        plugin.write_text(PLUGIN.format(scale=1.0))
        invoke(*command)
        plugin.write_text(PLUGIN.format(scale=0.5))
        return store, invoke(*command)


def _configs(store: Path) -> pd.DataFrame:
    return optbench.load(store).verdicts().configs


def test_the_store_covers_every_case(judged_store: tuple[Path, str]) -> None:
    store, _ = judged_store
    verdicts = optbench.load(store).verdicts()
    configs, tasks = verdicts.configs, verdicts.tasks.set_index("task_label")
    bowl = configs[configs["task_label"] == "seedbowl"]
    plain = bowl[bowl["config"].str.startswith("plainsgd[lr=0.9]")]
    assert len(plain) == 2 and plain["config"].str.contains(" @").all()  # the plugin edited: two configurations
    assert (bowl["diverged"] > 0).any() and (bowl["diverged"] < bowl["seeds"]).any()  # seed 2 diverges at lr 0.9
    assert ((bowl["reached"] > 0) & (bowl["reached"] < bowl["with_result"])).any()  # some seeds never reach
    assert tasks.loc["rosenbrock", "headline_verdict"] == "deterministic"  # identical seeds, compared exactly
    assert tasks.loc["quadratic[kappa=10,noise=0]", "headline_verdict"] == "tie"  # both at the resolution
    # subset and full evaluations are two metrics: the target (on the subset) never reads the full score
    metrics = optbench.load(store).metrics
    assert {"score_subset", "score"} <= set(metrics["metric"])
    assert (metrics[metrics["metric"] == "score"].groupby("trial_id").size() == 1).all()


def _row_of(output: str, task: str, config: str) -> str | None:
    """The console table's row of ``config`` on ``task`` (one line at this width), if the run showed it."""
    lines = [line for line in output.splitlines() if "│" in line and f" {task} " in line and f" {config} " in line]
    return lines[0] if lines else None


def test_console_report_json_and_api_agree(judged_store: tuple[Path, str], tmp_path: Path) -> None:
    store, console_output = judged_store
    configs = _configs(store)
    page, verdict_file = tmp_path / "page.html", tmp_path / "verdicts.json"
    invoke("report", str(store), "--out", str(page), "--json", str(verdict_file))
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ",
                                                                             page.read_text(), flags=re.S))))
    document = json.loads(verdict_file.read_text())
    by_config = {(r["task_label"], r["config"]): r for r in document["configs"]}
    assert len(by_config) == len(configs)
    shown = 0
    for row in configs.to_dict("records"):
        words = to_target_text(row)
        # the console (of the run that completed the store) prints the same words in the configuration's row
        line = _row_of(console_output, row["task_label"], row["config"])
        if line is not None:
            assert words in line, row["config"]
            shown += 1
        assert f"{row['config']}" in text and words in text  # the report's leaderboard
        stored = by_config[(row["task_label"], row["config"])]
        assert stored["reached"] == row["reached"] and stored["diverged"] == row["diverged"]
        expected = "never" if row["steps_median"] == math.inf else row["steps_median"]
        assert stored["steps_median"] == expected or (isinstance(expected, float) and math.isnan(expected))
    assert shown == 3 * 6  # the second run's configurations (the first version's ten are in the store only)
    for task in optbench.load(store).verdicts().tasks.to_dict("records"):
        winner = task["headline_winner"]
        if winner:
            assert f"{winner} ★ winner" in text and f"{winner} wins" in console_output.replace("\n", " ")
        else:
            assert f"{task['headline_leader']} ★ winner" not in text


def test_the_console_verdicts_are_the_reports_sentences(judged_store: tuple[Path, str], tmp_path: Path) -> None:
    from optbench.console import verdict_lines
    from optbench.report.data import load_stores
    from optbench.report.summary import task_summary
    from optbench.store import Store

    store, _ = judged_store
    lines = verdict_lines(Store(store).read_trials(), Store(store).read_declarations())
    data = load_stores([store])
    for task in data.tasks:
        for sentence in task_summary(data, task):
            assert f"{task}: {sentence}" in lines


def test_the_stored_row_columns_are_what_the_judge_finds_in_the_records(judged_store: tuple[Path, str]) -> None:
    store, _ = judged_store
    results = optbench.load(store)
    from_columns = judge(results.trials, results.declarations()).trials.set_index("trial_id")
    from_records = results.verdicts().trials.set_index("trial_id")
    for column in ("reached", "steps_to_target", "time_to_target", "headline_final", "headline_best"):
        pd.testing.assert_series_equal(from_columns[column], from_records[column].reindex(from_columns.index),
                                       check_names=False)


def test_first_reached_is_the_first_record_meeting_the_target_in_the_declared_direction() -> None:
    rows = pd.DataFrame({"trial_id": ["a"] * 4 + ["b"] * 2, "step": [0, 1, 2, 3, 0, 1],
                         "time": [0.0, 0.1, 0.2, 0.3, 0.0, 0.1], "examples": [0, 8, 16, 24, 0, 8],
                         "value": [0.1, 0.5, 0.9, 0.95, 0.2, math.nan]})
    hit = first_reached(rows, 0.9, "max")
    assert hit.loc["a", "step"] == 2 and "b" not in hit.index  # NaN never meets a target
    assert first_reached(rows, 0.2, "min").loc["b", "step"] == 0
    assert Target("m", 0.9, "").value == 0.9 and Metric("m", "max", "m").better(1.0, 0.9)


@pytest.mark.slow  # a one-workload suite run (~15 s) beside the shipped baselines
def test_suite_score_and_suite_report_agree(tmp_path: Path) -> None:
    store, page, table = tmp_path / "mine", tmp_path / "suite.html", tmp_path / "score.json"
    invoke("suite", "run", "--optims", "sgd", "--workloads", "double-well", "--out", str(store), "--threads", "1")
    invoke("suite", "score", str(store), "--json", str(table))
    invoke("suite", "report", str(store), "--out", str(page))
    scored = json.loads(table.read_text())["table"]
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>", " ",
                                                                             page.read_text(), flags=re.S))))
    leaderboard = text[text.index("Suite leaderboard"):text.index("Median steps to target over seeds")]
    for row in scored:
        cells = (f"{row['rank']} {row['optimizer']} {row['score']:.3f} {row['score_min']:.3f}–{row['score_max']:.3f} "
                 f"{row['reached']}/{row['workloads']}")
        assert cells in leaderboard, cells
    mine = next(r for r in scored if r["source"] == str(store))
    assert f"sgd scores {mine['score']:.3f}" in leaderboard and f"rank {mine['rank']} of {len(scored)}" in leaderboard

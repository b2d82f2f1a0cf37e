"""Bad inputs across every command, as a table: (arguments, exit code, what the error line says).

Rebuilt from an adversarial round on the landed main (issue 23): unknown names (with the closest
suggestion), malformed specs, impossible values (every builtin's hyperparameter domains), absurd sizes
(a 10⁶-trial grid, 10¹² steps or utterances), unwritable or missing folders, unknown trial ids. Each runs
in-process through click's CliRunner, from a fresh working folder. Every one must give exit 2 (0 where
a warning is the sensible answer), its message on the first error line, and never a traceback; an
optbench error is exactly one line; a store named by a bad command is left byte for byte as it was.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import optbench
from optbench.cli import main

RUN = "run -t quadratic[dim=3] -o sgd --steps 5 --seeds 0 --threads 1 -q"
GRID_1E6 = "sgd[lr=" + "|".join(f"{i}e-4" for i in range(1, 1001)) + ",weight_decay=" + \
    "|".join(f"{i}e-6" for i in range(1000)) + "]"

CASES: list[tuple[str, int, str]] = [
    # unknown names: the closest suggestion
    (f"{RUN} -o adamm --out s", 2, "unknown optimizer 'adamm'; did you mean 'adam'?"),
    (f"{RUN} -t quadratik --out s", 2, "unknown task 'quadratik'; did you mean 'quadratic'?"),
    (f"{RUN} -s cosin --out s", 2, "unknown schedule 'cosin'; did you mean 'cosine'?"),
    (f"{RUN} -o sgd[lrr=0.1] --out s", 2, "has no hyperparameter 'lrr'; did you mean 'lr'?"),
    ("tune -t quadratic -o adamm --budget 2 --steps 5 --out t", 2, "unknown optimizer 'adamm'; did you mean"),
    ("check adamm", 2, "did you mean 'adam'?"),
    ("suite list --suite nosuch", 2, "unknown suite 'nosuch'"),
    ("suite run -o sgd --suite nosuch --out s", 2, "unknown suite 'nosuch'"),
    ("list optimizer", 2, "'optimizer' is not one of 'optimizers'"),
    ("nosuchcommand", 2, "No such command 'nosuchcommand'"),
    (f"{RUN} --backend gpu --out s", 2, "'gpu' is not one of 'sequential', 'process', 'ray'"),
    # malformed specs
    (f"{RUN} -o sgd[lr=0.1 --out s", 2, "unclosed '[' in 'sgd[lr=0.1'"),
    (f"{RUN} -o sgd] --out s", 2, "unbalanced ']' in 'sgd]'"),
    (f"{RUN} -o sgd[lr] --out s", 2, "malformed parameter 'lr' in 'sgd[lr]': write key=value"),
    (f"{RUN} -o sgd[lr=0.1,lr=0.2] --out s", 2, "parameter 'lr' given twice"),
    (f"{RUN} -o sgd[lr=nan] --out s", 2, "values must be finite numbers, got 'nan'"),
    (f"{RUN} -o sgd[lr=abc] --out s", 2, "lr must be a number, got 'abc'"),
    (f"{RUN} -o adam[betas=0.9] --out s", 2, "betas takes 2 numbers separated by '/'"),
    (f"{RUN} --seeds abc --out s", 2, "seeds must be integers or ranges like 0-4, got 'abc'"),
    (f"{RUN} --batch-sizes half --out s", 2, "batch size must be a positive integer or 'full', got 'half'"),
    (f"{RUN} --steps abc --out s", 2, "'abc' is not a valid integer"),
    (f"{RUN} --backend ray --address nonsense --out s", 2, "--address must be auto, host:port or ray://host:port"),
    # impossible values: every bounded hyperparameter of the builtins, checked at plan time
    (f"{RUN} -o sgd[lr=-0.1] --out s", 2, "lr must be > 0, got -0.1"),
    (f"{RUN} -o sgd[weight_decay=-1] --out s", 2, "weight_decay=-1 is outside its domain [0, inf)"),
    (f"{RUN} -o rmsprop[alpha=2] --out s", 2, "optimizer 'rmsprop[alpha=2]': alpha=2 is outside its domain [0, 1)"),
    (f"{RUN} -o rmsprop[momentum=1] --out s", 2, "momentum=1 is outside its domain [0, 1)"),
    (f"{RUN} -o momentum[momentum=1.5] --out s", 2, "momentum=1.5 is outside its domain [0, 1)"),
    (f"{RUN} -o momentum[dampening=2] --out s", 2, "dampening=2 is outside its domain [0, 1]"),
    (f"{RUN} -o adam[betas=0.9/1.0] --out s", 2, "betas.1=1.0 is outside its domain [0, 1)"),
    (f"{RUN} -o adamw[betas=-0.1/0.9] --out s", 2, "betas.0=-0.1 is outside its domain [0, 1)"),
    (f"{RUN} -o radam[eps=-1e-8] --out s", 2, "eps=-1e-08 is outside its domain [0, inf)"),
    (f"{RUN} -o adagrad[lr_decay=-1] --out s", 2, "lr_decay=-1 is outside its domain [0, inf)"),
    (f"{RUN} -o adagrad[initial_accumulator_value=-1] --out s", 2, "initial_accumulator_value=-1 is outside"),
    (f"{RUN} -s exponential[gamma=1.5] --out s", 2, "gamma=1.5 is outside its domain (0, 1]"),
    (f"{RUN} -s step[gamma=0] --out s", 2, "gamma=0 is outside its domain (0, 1]"),
    (f"{RUN} -s step[step_size=0] --out s", 2, "step_size=0 is outside its domain [1, inf)"),
    (f"{RUN} -s cosine[min_factor=2] --out s", 2, "min_factor=2 is outside its domain [0, 1]"),
    (f"{RUN} -s cosine-restarts[t0=0] --out s", 2, "t0=0 is outside its domain [1, inf)"),
    (f"{RUN} -s cosine-restarts[t_mult=1.5] --out s", 2, "t_mult must be an integer >= 1"),
    (f"{RUN} -s warmup-linear[warmup=-3] --out s", 2, "warmup=-3 is outside its domain [0, inf)"),
    (f"{RUN} -s warmup-cosine[min_factor=-1] --out s", 2, "min_factor=-1 is outside its domain [0, 1]"),
    (f"{RUN} -s inverse-sqrt[warmup=-1] --out s", 2, "warmup=-1 is outside its domain [0, inf)"),
    (f"{RUN} -t quadratic[kappa=0.5] --out s", 2, "kappa (condition number) must be >= 1"),
    (f"{RUN} --steps 0 --out s", 2, "budget steps must be a finite number > 0, got 0"),
    (f"{RUN} --epochs -1 --out s", 2, "budget epochs must be a finite number > 0"),
    (f"{RUN} --time nan --out s", 2, "budget time must be a finite number > 0, got nan"),
    (f"{RUN} --seeds -1 --out s", 2, "seeds must be integers or ranges like 0-4, got '-1'"),
    (f"{RUN} --batch-sizes 0 --out s", 2, "batch size must be >= 1, got 0"),
    (f"{RUN} --batch-sizes 100000 --out s", 2, "batch size 100000 exceeds task"),
    (f"{RUN} --threads zero --out s", 2, "--threads must be 'auto' or a whole number, got 'zero'"),
    (f"{RUN} --threads 0 --out s", 2, "threads must be 'auto' or a whole number >= 1, got 0"),
    (f"{RUN} --workers 0 --out s", 2, "--workers must be 'auto' or a whole number >= 1, got '0'"),
    (f"{RUN} --address 1.2.3.4:5 --out s", 2, "--address '1.2.3.4:5' is for --backend ray, not 'sequential'"),
    (f"{RUN} --device tpu --out s", 2, "device must be auto, cpu or cuda[:N], got 'tpu'"),
    (f"{RUN} --eval-every 0 --out s", 2, "eval_every must be a whole number >= 1, got 0"),
    (f"{RUN} --diagnose foo=1 --out s", 2, "--diagnose: unknown setting 'foo'"),
    (f"{RUN} --noise-scale every=0 --out s", 2, "--noise-scale: every must be an integer >= 1, got 0"),
    ("tune -t quadratic -o adam --budget 0 --steps 5 --out t", 2, "the search budget must be >= 1, got 0"),
    ("data phoneme --out c --utterances 5", 2, "--utterances must be >= 10, got 5"),
    ("data phoneme --out c --snr 30:5", 2, "--snr must be LO:HI with LO <= HI"),
    # absurd sizes: refused before any work, with the count and what to do
    (f"{RUN} -o {GRID_1E6} --out s", 2, "the study expands to 1,000,000 trials (1 tasks × 1,000,000 optimizer"),
    (f"{RUN} --seeds 0-100000000 --out s", 2, "holds 100000001 seeds; at most 100000 per study"),
    (f"{RUN} --steps 1000000000000 --out s", 2, "asks for 1,000,000,000,000 steps per trial, more than the limit"),
    (f"{RUN} -t quadratic[dim=100000000000] --out s", 2, "GiB, more than the"),
    ("data phoneme --out c --utterances 1000000000000", 2, "1,000,000,000,000 utterances need about"),
    # folders: unwritable --out (checked before anything is built), missing stores, unknown trial ids
    (f"{RUN} --out /proc/1/su", 2, "cannot write to --out /proc/1/su"),
    ("suite run -o sgd --out /proc/1/su", 2, "cannot write to --out /proc/1/su"),
    ("report /nonexistent/store", 2, "no results store at /nonexistent/store"),
    ("report .", 2, "no results store at ."),
    ("diagnose /nonexistent 123", 2, "no results store at /nonexistent"),
    ("suite score /nonexistent", 2, "Directory '/nonexistent' does not exist"),
    ("predict {store} nosuchtrial", 2, "no trial 'nosuchtrial' in {store}"),
    ("diagnose {store} nosuchtrial", 2, "no trial 'nosuchtrial' in {store}"),
    ("data phoneme --out {store}", 2, "output folder {store} exists and is not empty"),
    (f"{RUN} -o rmsprop[alpha=2] --out {{store}}", 2, "alpha=2 is outside its domain"),
    (f"{RUN} --steps 1000000000000 --out {{store}}", 2, "more than the limit of 10,000,000"),
    # sensible behaviours that are not errors
    ("--plugin missing.py list optimizers", 0, "warning: plugin file missing.py: FileNotFoundError"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-inputs") / "store"
    optbench.run("quadratic[dim=3]", "sgd", steps=5, seeds="0", threads=1, out=out)
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _first_message(output: str) -> str:
    """The line a person reads first: optbench's ``error:``/``warning:`` line, or click's ``Error:`` line."""
    lines = output.strip().splitlines()
    return next((line for line in lines if line.lower().startswith(("error", "warning"))), lines[0] if lines else "")


@pytest.mark.parametrize("args,code,message", CASES, ids=[c[0][:70] for c in CASES])
def test_a_bad_input_is_one_clear_line(args: str, code: int, message: str, store: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = _snapshot(store)
    result = CliRunner().invoke(main, shlex.split(args.replace("{store}", str(store))))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    first = _first_message(result.output)
    assert message.replace("{store}", str(store)) in first, result.output
    if first.startswith("error:"):
        assert result.output.strip() == first  # optbench's own errors are exactly one line
    assert _snapshot(store) == before  # nothing lost, nothing half-written
    assert not list(tmp_path.iterdir()) or code == 0  # refused before anything was created


def test_the_table_covers_what_the_issue_lists() -> None:
    table = " ".join(args for args, _, _ in CASES)
    for needle in ("rmsprop[alpha=2]", "momentum[momentum=", "betas=", "--steps 1000000000000",
                   "--utterances 1000000000000", "suite run -o sgd --out /proc/1/su", GRID_1E6):
        assert needle in table
    for name in ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "radam", "exponential", "step", "cosine",
                 "cosine-restarts", "warmup-linear", "warmup-cosine", "inverse-sqrt"):
        assert f" {name}[" in table, name
    assert len(CASES) >= 75

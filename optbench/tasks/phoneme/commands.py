"""Click commands of the phoneme task: ``optbench data phoneme`` and ``optbench predict`` (registered in
optbench/cli.py). Heavy imports happen inside the command bodies so ``optbench --help`` stays fast."""

from __future__ import annotations

import click

from optbench.cli.common import user_errors


@click.group("data")
def data_group() -> None:
    """Generate data sets (the built-in phoneme corpus)."""


@data_group.command("phoneme")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="New folder for the corpus.")
@click.option("--utterances", type=int, default=600, show_default=True,
              help="Utterances in all (about 20% go to the test split).")
@click.option("--snr", default="5:25", show_default=True, help="Additive-noise SNR range LO:HI in dB.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, byte-identical files.")
@click.option("--no-cmvn", is_flag=True, help="Skip per-utterance mean/variance normalisation.")
@click.option("--workers", type=int, default=None, help="Worker processes (default: up to 2).")
@user_errors
def data_phoneme(out: str, utterances: int, snr: str, seed: int, no_cmvn: bool, workers: int | None) -> None:
    """Synthesize a libriphone-format corpus with eSpeak NG (train/test speakers disjoint)."""
    import time

    from optbench.tasks.phoneme.corpus import CorpusSettings, generate, parse_snr

    low, high = parse_snr(snr)
    settings = CorpusSettings(utterances=utterances, snr_low=low, snr_high=high, seed=seed, cmvn=not no_cmvn)
    started = time.perf_counter()
    generate(out, settings, workers=workers)
    click.echo(f"wrote {utterances} utterances to {out} in {time.perf_counter() - started:.1f} s")


@click.command("predict")
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.argument("trial_id")
@click.option("--out", default="prediction.csv", show_default=True, help="CSV to write (Id,Class).")
@click.option("--data-dir", default=None, help="libriphone folder (default: the one the trial used).")
@user_errors
def predict_command(results: str, trial_id: str, out: str, data_dir: str | None) -> None:
    """Write HW2 test-set predictions (Id,Class) from a phoneme trial's best checkpoint."""
    from optbench.tasks.phoneme.predict import predict

    frame = predict(results, trial_id, out, data_dir)
    click.echo(f"wrote {len(frame)} predictions to {out}")

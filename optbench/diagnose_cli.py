"""``optbench diagnose RESULTS TRIAL_ID``: the curvature diagnosis of a saved trial, printed and stored.

This module owns the command and the rebuilding of a trial from its row in the store. The point to
diagnose is the trial's final parameters (re-trained deterministically when no stored diagnosis exists),
its best checkpoint, or its initialisation. The numbers come from :mod:`optbench.curvature`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from optbench.cli.common import _registry, user_errors
from optbench.errors import OptbenchError, did_you_mean

POINTS = ("final", "checkpoint", "init")


def _none_if_nan(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_config_from_row(row: dict[str, Any]) -> Any:
    """The :class:`TrialConfig` a stored trial row was run with (its id must match the stored id)."""
    from optbench.trial import TrialConfig

    config = TrialConfig.from_row(row)
    if config.trial_id != row["trial_id"]:
        raise OptbenchError(f"trial {row['trial_id']}: its stored configuration no longer hashes to its id "
                            f"(got {config.trial_id}); it was written by another optbench version")
    return config


def find_trial(trials: Any, wanted: str, store: Path) -> dict[str, Any]:
    """The row whose trial id is ``wanted`` or starts with it (unique), else a one-line error."""
    if trials.empty:
        raise OptbenchError(f"no finished trials in {store}")
    ids = trials["trial_id"].tolist()
    matches = [i for i in ids if i.startswith(wanted)]
    if len(matches) > 1:
        raise OptbenchError(f"trial id prefix {wanted!r} is ambiguous in {store}: {', '.join(matches[:5])}")
    if not matches:
        hint = did_you_mean(wanted, ids, cutoff=0.3)
        raise OptbenchError(f"no trial {wanted!r} in {store}{hint} ({len(ids)} trials)")
    return trials[trials["trial_id"] == matches[0]].iloc[0].to_dict()


def diagnose_trial(store_path: str | Path, trial_id: str, at: str = "final", settings: Any = None,
                   recompute: bool = False, registry: Any = None) -> dict[str, Any]:
    """Diagnose a stored trial at ``at`` (final / checkpoint / init); store and return the JSON document."""
    from optbench import curvature
    from optbench.loop import run_trial
    from optbench.plan import TaskCache
    from optbench.registry import load_registry
    from optbench.store import Store
    from optbench.trial import Options

    if at not in POINTS:
        raise OptbenchError(f"--at must be one of {', '.join(POINTS)}, got {at!r}")
    store = Store(store_path)
    results = store.load()
    row = find_trial(results.trials, trial_id, store.path)
    trial_id = row["trial_id"]
    settings = settings or curvature.DiagnoseSettings()
    registry = registry or load_registry()
    stored = curvature.diagnosis_path(store.path, trial_id)
    if at == "final" and stored.is_file() and not recompute:
        return {"trial_id": trial_id, **json.loads(stored.read_text())}
    config = trial_config_from_row(row)
    if at == "final":
        # training is deterministic on CPU: replaying the trial reaches exactly its final parameters
        result = run_trial(config, registry, Options(device="cpu", save_checkpoints=False, diagnose=settings))
        if result.row["status"] != "completed" or result.diagnosis is None:
            raise OptbenchError(f"trial {trial_id} did not complete when replayed ({result.row['status']}: "
                                f"{result.row['error']}); diagnose it with --at init or --at checkpoint")
        document = result.diagnosis
    else:
        import torch

        task = TaskCache(registry).get(config.task, config.task_params)
        model = task.init_model(config.seed)
        if at == "checkpoint":
            path = store.checkpoint_path(trial_id)
            if not path.is_file():
                raise OptbenchError(f"trial {trial_id} has no checkpoint ({path} is missing: its task keeps none); "
                                    "use --at final or --at init")
            model.load_state_dict(torch.load(path, map_location="cpu"))
        document = {"point": at, **settings.run(task, model, config.seed).to_dict()}
    name = trial_id if at == "final" else f"{trial_id}-{at}"
    curvature.write_diagnosis(store.path, trial_id, document, name)
    return {"trial_id": trial_id, **document}


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render(document: dict[str, Any]) -> Any:
    """A rich table of one diagnosis document."""
    from rich.table import Table

    table = Table(title=f"diagnosis · {document.get('trial_id', '')} · {document.get('point', '')}",
                  show_header=False)
    table.add_column("quantity", style="bold cyan")
    table.add_column("value")
    if "error" in document:
        table.add_row("error", document["error"])
        return table
    tol = document["tolerances"]
    table.add_row("verdict", f"[bold]{document['verdict']}[/]  (‖g‖ ≤ {tol['grad_tol']:.3g}, "
                  f"|λ| > {tol['eig_tol']:.3g})")
    for key in ("loss", "grad_norm", "lambda_min", "lambda_max"):
        table.add_row(key, _fmt(document[key]))
    se = f" ± {document['trace_stderr']:.3g}" if document["trace_stderr"] else " (exact)"
    table.add_row("trace", _fmt(document["trace"]) + se)
    if document.get("eps_sharpness") is not None:
        table.add_row(f"ε-sharpness (ε={tol['eps']:g})", _fmt(document["eps_sharpness"]))
    escape = document.get("escape")
    if escape:
        verb = "lowers" if escape["loss_after"] < escape["loss_before"] else "does NOT lower"
        table.add_row("escape", f"step {escape['step']:.3g} along the λ_min eigenvector {verb} the loss: "
                      f"{escape['loss_before']:.6g} → {escape['loss_after']:.6g} "
                      f"(Taylor: {escape['predicted_change']:+.3g})")
        if escape["direction"]:
            table.add_row("escape direction", ", ".join(f"{v:.4g}" for v in escape["direction"]))
    cost = document["cost"]
    table.add_row("method", f"{document['method']} · {document['params']} parameters · "
                  f"{document['examples']} examples")
    table.add_row("cost", f"{cost['hvps']} HVPs, {cost['gradients']} gradients, {cost['seconds']:.2f} s")
    for note in document.get("notes", []):
        table.add_row("note", note)
    return table


@click.command("diagnose")
@click.argument("results", type=click.Path(file_okay=False))
@click.argument("trial_id")
@click.option("--at", type=click.Choice(POINTS), default="final", show_default=True,
              help="Final parameters (replayed if not stored), the best checkpoint, or the initialisation.")
@click.option("--settings", "settings_text", default="", metavar="K=V,...",
              help='Diagnosis settings, e.g. "examples=2048,density=true" (see docs/curvature.md).')
@click.option("--recompute", is_flag=True, help="Ignore a stored end-of-trial diagnosis and recompute it.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of a table.")
@click.pass_context
@user_errors
def diagnose_command(ctx: click.Context, results: str, trial_id: str, at: str, settings_text: str,
                     recompute: bool, as_json: bool) -> None:
    """Hessian spectrum, critical-point verdict, sharpness and escape direction of a saved trial."""
    from optbench.console import console
    from optbench.curvature import DiagnoseSettings

    settings = DiagnoseSettings.parse(settings_text)
    document = diagnose_trial(results, trial_id, at, settings, recompute, registry=_registry(ctx))
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        console.print(render(document))

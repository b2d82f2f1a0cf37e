"""``optbench diagnose RESULTS TRIAL_ID``: the command, and the rendering of a diagnosis document as a table.

Thin over :func:`optbench.curvature.stored.diagnose_trial`, which finds the trial, loads its stored weights
(``--at final|best|init``) and diagnoses them; this module owns only the options and the printing.
"""

from __future__ import annotations

import json
from typing import Any

import click

from optbench.cli import _registry, user_errors

POINTS = ("final", "best", "init", "checkpoint")  # checkpoint: the old name of best


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
    if document.get("negative_fraction") is not None:
        table.add_row("negative / positive eigenvalues",
                      f"{document['negative_fraction']:.3g} / {document['positive_fraction']:.3g} of them "
                      f"({document['fraction_method']}; positive = the minimum ratio)")
    if len(document.get("top_eigenvalues") or []) > 1:
        table.add_row("top eigenvalues", ", ".join(f"{v:.6g}" for v in document["top_eigenvalues"]))
    for name, value in (document.get("group_lambda_max") or {}).items():
        table.add_row(f"λ_max · {name}", _fmt(value))
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
    if document.get("weights"):
        table.add_row("weights", document["weights"])
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
              help="The stored final weights, the best checkpoint, or the initialisation (checkpoint = best).")
@click.option("--settings", "settings_text", default="", metavar="K=V,...",
              help='Diagnosis settings, e.g. "examples=2048,density=true" (see docs/curvature.md).')
@click.option("--recompute", is_flag=True, help="Ignore a stored end-of-trial diagnosis and recompute it.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads for the computation.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of a table.")
@click.pass_context
@user_errors
def diagnose_command(ctx: click.Context, results: str, trial_id: str, at: str, settings_text: str,
                     recompute: bool, threads: int | None, as_json: bool) -> None:
    """Hessian spectrum, critical-point verdict, sharpness and escape direction of a saved trial."""
    from optbench.console import console
    from optbench.curvature import DiagnoseSettings
    from optbench.curvature.stored import diagnose_trial

    settings = DiagnoseSettings.parse(settings_text) if settings_text else None
    document = diagnose_trial(results, trial_id, at, settings, recompute, _registry(ctx), threads)
    if document.get("weights") == "replayed training":  # one line: the store predates saved final weights
        click.echo(f"note: {document['notes'][0]}", err=True)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        console.print(render(document))

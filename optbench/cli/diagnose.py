"""``optbench diagnose RESULTS TRIAL_ID``: the command, and the rendering of a diagnosis document as a table.

Thin over :func:`optbench.curvature.stored.diagnose_trial`, which finds the trial, loads its stored weights
(``--at final|best|init``) and diagnoses them; this module owns only the options and the printing.
"""

from __future__ import annotations

import json
from typing import Any

import click

from optbench.cli.common import cli_registry, user_errors
from optbench.spec import format_number

POINTS = ("final", "best", "init", "checkpoint")  # checkpoint: the old name of best


def _fmt(value: Any) -> str:
    return format_number(value, 6)


def _spectrum_rows(document: dict[str, Any]) -> list[tuple[str, str]]:
    bounds = document.get("error_bounds") or {}  # only=...: what was estimated, each with its error bound
    rows = [(key, _fmt(document[key]) + (f" ± {bounds[key]:.2g}" if key in bounds else ""))
            for key in ("loss", "grad_norm", "lambda_min", "lambda_max")]
    if document.get("measured") is None:
        se = f" ± {document['trace_stderr']:.3g}" if document["trace_stderr"] else " (exact)"
        rows.append(("trace", _fmt(document["trace"]) + se))
    if document.get("negative_fraction") is not None:
        rows.append(("negative / positive eigenvalues",
                     f"{document['negative_fraction']:.3g} / {document['positive_fraction']:.3g} of them "
                     f"({document['fraction_method']}; positive = the minimum ratio)"))
    if len(document.get("top_eigenvalues") or []) > 1:
        rows.append(("top eigenvalues", ", ".join(f"{v:.6g}" for v in document["top_eigenvalues"])))
    rows += [(f"λ_max · {name}", _fmt(value)) for name, value in (document.get("group_lambda_max") or {}).items()]
    if document.get("eps_sharpness") is not None:
        rows.append((f"ε-sharpness (ε={document['tolerances']['eps']:g})", _fmt(document["eps_sharpness"])))
    return rows


def _escape_rows(escape: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not escape:
        return []
    verb = "lowers" if escape["loss_after"] < escape["loss_before"] else "does NOT lower"
    rows = [("escape", f"step {escape['step']:.3g} along the λ_min eigenvector {verb} the loss: "
                       f"{escape['loss_before']:.6g} → {escape['loss_after']:.6g} "
                       f"(Taylor: {escape['predicted_change']:+.3g})")]
    if escape["direction"]:
        rows.append(("escape direction", ", ".join(f"{v:.4g}" for v in escape["direction"])))
    return rows


def _cost_rows(document: dict[str, Any]) -> list[tuple[str, str]]:
    from rich.markup import escape  # paths and notes are text, not markup ("[...]" in a folder name)

    cost = document["cost"]
    rows = [("weights", escape(document["weights"]))] if document.get("weights") else []
    rows.append(("method", f"{document['method']} · {document['params']} parameters · "
                           f"{document['examples']} examples"))
    rows.append(("cost", f"{cost['hvps']} HVPs, {cost['gradients']} gradients, {cost['seconds']:.2f} s"))
    return rows + [("note", escape(note)) for note in document.get("notes", [])]


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
                  f"|λ| > {tol['eig_tol']:.3g})" if document["verdict"] != "not assessed" else
                  "not assessed (the second-derivative test needs both λ_min and λ_max)")
    for row in _spectrum_rows(document) + _escape_rows(document.get("escape")) + _cost_rows(document):
        table.add_row(*row)
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
    document = diagnose_trial(results, trial_id, at, settings, recompute, cli_registry(ctx), threads)
    if document.get("weights") == "replayed training":  # one line: the store predates saved final weights
        click.echo(f"note: {document['notes'][0]}", err=True)
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        console.print(render(document))

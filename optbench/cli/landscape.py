"""``optbench landscape STORE TRIAL``: loss slices around a stored trial's weights, and their summary table.

Thin over :func:`optbench.curvature.landscape_stored.landscape_trial`, which finds the trial, loads its
weights (``--at final|best|init``), replays its training for the trajectory plane, slices and stores the
document in ``landscape/``; this module owns only the options and the printing.
"""

from __future__ import annotations

import json
from typing import Any

import click

from optbench.cli.common import cli_registry, user_errors

POINTS = ("final", "best", "init")


def _extent(values: list[float]) -> str:
    return f"±{max(abs(values[0]), abs(values[-1])):.3g}" if abs(values[0] + values[-1]) < 1e-9 * \
        max(abs(values[0]), 1e-300) else f"{values[0]:.3g} … {values[-1]:.3g}"


def rows(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(slice, what it shows) for the table: eigenvalues against measured curvature, planes, interpolation."""
    out = [("point", f"{document['point']} · loss {document['loss']:.6g} · ‖g‖ {document['grad_norm']:.3g} · "
                     f"{document['params']} parameters · {document['examples']} examples")]
    for line in document["lines"]:
        lam, measured = line["eigenvalue"], line["curvature_at_0"]
        out.append((f"line: {line['name']}", f"t ∈ {_extent(line['t'])}; f''(0) measured {measured:.5g} vs λ "
                    f"{lam:.5g} ({100 * (measured - lam) / max(abs(lam), 1e-300):+.2f} %); loss "
                    f"{min(line['loss']):.4g} … {max(line['loss']):.4g}"))
    for plane in document["planes"]:
        low = min(min(r) for r in plane["loss"])
        high = max(max(r) for r in plane["loss"])
        out.append((f"plane: {plane['key']}", f"{plane['x_name']} {_extent(plane['x'])} × {plane['y_name']} "
                    f"{_extent(plane['y'])}: loss {low:.4g} … {high:.4g}"))
    interp = document.get("interpolation")
    if interp:
        inside = [v for a, v in zip(interp["alpha"], interp["loss"], strict=True) if 0 <= a <= 1]
        out.append(("init → final", f"‖θ_final − θ_init‖ = {interp['init_to_final']:.4g}; loss on the segment "
                    f"{max(inside):.4g} (max) … {min(inside):.4g} (min)"))
    cost = document["cost"]
    out.append(("cost", f"{cost['hvps']} HVPs, {cost['loss_evaluations']} loss evaluations, "
                        f"{cost['seconds']:.2f} s ({document['method']} eigenvectors)"))
    return out + [("note", note) for note in document.get("notes", [])]


@click.command("landscape")
@click.argument("results", type=click.Path(file_okay=False))
@click.argument("trial_id")
@click.option("--at", type=click.Choice(POINTS), default="final", show_default=True,
              help="Slice around the stored final weights, the best checkpoint or the initialisation.")
@click.option("--settings", "settings_text", default="", metavar="K=V,...",
              help='Slice settings, e.g. "grid=31,plane=eigen,trajectory=false" (see docs/curvature.md).')
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads for the computation.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON document instead of a table.")
@click.pass_context
@user_errors
def landscape_command(ctx: click.Context, results: str, trial_id: str, at: str, settings_text: str,
                      threads: int | None, as_json: bool) -> None:
    """Loss along Hessian eigenvectors, on a plane, on the trajectory's plane and from init to final."""
    from rich.markup import escape
    from rich.table import Table

    from optbench.console import console
    from optbench.curvature.landscape import keep_freed_memory
    from optbench.curvature.landscape_stored import landscape_trial, parse_settings

    settings = parse_settings(settings_text)  # checked before any work
    keep_freed_memory()  # this process is the command's own: see its docstring
    document = landscape_trial(results, trial_id, at, settings, cli_registry(ctx), threads)
    if as_json:
        click.echo(json.dumps(document))
        return
    table = Table(title=f"landscape · {document['trial_id']} · {document['point']}", show_header=False)
    table.add_column("slice", style="bold cyan")
    table.add_column("what it shows")
    for name, text in rows(document):
        table.add_row(escape(name), escape(text))
    console.print(table)

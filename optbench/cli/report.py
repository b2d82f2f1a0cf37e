"""The ``optbench report`` click command (registered in :mod:`optbench.cli`); heavy imports stay inside."""

from __future__ import annotations

import click

from optbench.cli.common import user_errors


@click.command("report")
@click.argument("stores", nargs=-1, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: reports/<store>.html).")
@click.option("--title", default=None, help="Page title (default: the store names).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Also write the verdicts the page shows (per trial, configuration and task) as JSON here.")
@user_errors
def report_command(stores: tuple[str, ...], out: str | None, title: str | None, json_out: str | None) -> None:
    """Write one self-contained HTML report for STORES (default: the newest store under results/).

    The report reads only the stores (each task's declarations and surface are stored with it).
    """
    from optbench.report import build_report, newest_store

    chosen = list(stores) or [str(newest_store())]
    path = build_report(chosen, out, title=title, json_out=json_out)
    click.echo(f"report: {path}")
    if json_out:
        click.echo(f"verdicts: {json_out}")

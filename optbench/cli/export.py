"""The ``optbench export`` click command (registered in :mod:`optbench.cli`); heavy imports stay inside."""

from __future__ import annotations

import click

from optbench.cli.common import user_errors


@click.command("export")
@click.argument("store", type=click.Path())
@click.option("--format", "fmt", default="csv", show_default=True, metavar="csv|jsonl|parquet",
              help="File format of every table.")
@click.option("--out", required=True, type=click.Path(),
              help="Folder to write (one file per table, plus declarations.json); new, empty or a previous export.")
@user_errors
def export_command(store: str, fmt: str, out: str) -> None:
    """Write STORE's trials, curves (one row per trial, metric and step) and the judge's verdicts as tidy
    tables, with every task's declarations, for pandas, R or a spreadsheet."""
    from optbench.export import export

    paths = export(store, fmt.lower(), out)
    click.echo(f"export: {len(paths)} files in {out}")

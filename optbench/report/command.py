"""The ``optbench report`` click command (registered in :mod:`optbench.cli`); heavy imports stay inside."""

from __future__ import annotations

import click

from optbench.cli.common import user_errors


@click.command("report")
@click.argument("stores", nargs=-1, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write (default: reports/<store>.html).")
@click.option("--title", default=None, help="Page title (default: the store names).")
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE",
              help="Plugin defining tasks the stores used (for 2-D contours; repeatable).")
@click.pass_context
@user_errors
def report_command(ctx: click.Context, stores: tuple[str, ...], out: str | None, title: str | None,
                   plugins: tuple[str, ...]) -> None:
    """Write one self-contained HTML report for STORES (default: the newest store under results/)."""
    from optbench.cli.common import _registry
    from optbench.report import build_report, newest_store

    chosen = list(stores) or [str(newest_store())]
    path = build_report(chosen, out, registry=_registry(ctx, plugins), title=title)
    click.echo(f"report: {path}")

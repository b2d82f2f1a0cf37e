"""``optbench list``: the registered optimizers, schedules or tasks."""

from __future__ import annotations

import click

from optbench.cli.common import cli_registry, user_errors


@click.command("list")
@click.argument("kind", type=click.Choice(["optimizers", "schedules", "tasks"]))
@click.option("--all", "include_catalogue", is_flag=True,
              help="Also list the pytorch-optimizer catalogue (tpo.*; needs the 'catalogue' extra).")
@click.pass_context
@user_errors
def list_command(ctx: click.Context, kind: str, include_catalogue: bool) -> None:
    """List registered optimizers, schedules or tasks."""
    from optbench.console import console, registry_table

    registry = cli_registry(ctx)
    if include_catalogue:
        from optbench.catalogue import add_catalogue

        add_catalogue(registry)
    console.print(registry_table(registry, kind[:-1]))  # type: ignore[arg-type]

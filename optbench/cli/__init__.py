"""The ``optbench`` command line: one module per command, each a thin click layer over the Python API.

Shared helpers (user errors as one line and exit 2, Ctrl-C, the registry) are in :mod:`optbench.cli.common`.
Packages (and optbench's own tasks) add commands through the entry-point group ``optbench.commands``: each
entry point names a click command or group. Command modules import their heavy dependencies inside the
command bodies, so ``optbench --help`` and ``optbench list`` start fast.
"""

from __future__ import annotations

import importlib.metadata

import click

from optbench.cli.check import check_command
from optbench.cli.common import show_warnings_as_lines
from optbench.cli.diagnose import diagnose_command
from optbench.cli.export import export_command
from optbench.cli.landscape import landscape_command
from optbench.cli.listing import list_command
from optbench.cli.report import report_command
from optbench.cli.run import run_command
from optbench.cli.suite import suite_group
from optbench.cli.tune import tune_command

COMMAND_GROUP = "optbench.commands"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--plugin", "plugins", multiple=True, metavar="PATH_OR_MODULE",
              help="Load optimizers/schedules/tasks from a .py file or an importable module (repeatable).")
@click.version_option(package_name="optbench")
@click.pass_context
def main(ctx: click.Context, plugins: tuple[str, ...]) -> None:
    """optbench: compare optimizers and learning-rate schedules on real runs."""
    show_warnings_as_lines()
    ctx.ensure_object(dict)
    ctx.obj["plugins"] = plugins


for _command in (list_command, run_command, check_command, diagnose_command, landscape_command, report_command,
                 tune_command, suite_group, export_command):
    main.add_command(_command)


def _add_contributed_commands() -> None:
    """Commands other packages (and optbench's tasks) contribute through the ``optbench.commands`` group."""
    for ep in importlib.metadata.entry_points(group=COMMAND_GROUP):
        try:
            command = ep.load()
        except Exception as exc:  # a broken contributed command must not take the CLI down
            click.echo(f"warning: command entry point {ep.name!r} ({ep.value}) failed to load: {exc}", err=True)
            continue
        if isinstance(command, click.Command) and command.name not in main.commands:
            main.add_command(command)


_add_contributed_commands()

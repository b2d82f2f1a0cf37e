"""``optbench check``: the plugin conformance suite (:mod:`optbench.conformance`) from the command line."""

from __future__ import annotations

import click

from optbench.cli.common import user_errors


@click.command("check")
@click.argument("targets", nargs=-1, required=True, metavar="PLUGIN_OR_NAME...")
@click.option("--kind", type=click.Choice(["optimizer", "schedule", "task"]), default=None,
              help="Only entries of this kind (default: whatever the name or plugin provides).")
@click.pass_context
def check_command(ctx: click.Context, targets: tuple[str, ...], kind: str | None) -> None:
    """Check optimizers, schedules, tasks or plugins against the conformance suite.

    PLUGIN_OR_NAME is a registry name (adam, cosine, saddle, tpo.lion), a plugin .py file or an importable
    module (all its entries are checked). Prints a pass/fail table with a reason per failed check;
    exits 1 when any check fails.
    """
    from optbench.conformance import CheckResult, check_entry, resolve_target, results_table
    from optbench.console import console

    @user_errors
    def run() -> int:
        plugins = tuple((ctx.obj or {}).get("plugins", ()))
        results: list[CheckResult] = []
        for target in targets:
            entries, problems = resolve_target(target, kind, plugins)  # type: ignore[arg-type]
            results.extend(problems)
            if not entries and not problems:
                results.append(CheckResult(target, "plugin defines entries", False,
                                           f"no {kind or 'optbench'} entries found in {target}"))
            for entry in entries:
                results.extend(check_entry(entry))
        console.print(results_table(results, f"optbench check {' '.join(targets)}"))
        failed = sum(not r.passed for r in results)
        for r in results:  # unwrapped, for CI logs where the table's reason column folds
            if not r.passed and not r.reason.startswith("not run"):
                click.echo(f"FAIL {r.entry}: {r.check}: {r.reason}")
        summary = f"{len(results) - failed}/{len(results)} checks passed"
        console.print(summary + (f", {failed} failed" if failed else ""))
        return 1 if failed else 0

    ctx.exit(run())

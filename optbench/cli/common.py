"""What every command shares: user errors as one line (exit 2), Ctrl-C as one line (exit 130), the registry.

Every command turns user errors (:class:`optbench.OptbenchError`) into ``error: ...`` on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import click

from optbench.errors import OptbenchError, StoreWarning, environment_error

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """Ctrl-C during a command; ``message`` says what was kept and how to go on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def show_warnings_as_lines() -> None:
    """Print optbench's own warnings (e.g. quarantined store files) as ``warning: ...``, one line each."""
    default = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        if issubclass(category, StoreWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, *args, **kwargs)  # type: ignore[arg-type]

    warnings.showwarning = show


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print OptbenchError as ``error: ...`` and exit 2, Ctrl-C as one line and exit 130, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OptbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except Interrupted as exc:
            click.echo(f"interrupted: {exc.message}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except OSError as exc:  # a full disk, a read-only file system: the machine's, not a bug
            problem = environment_error(exc)
            if problem is None:
                raise
            click.echo(f"error: {problem}", err=True)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def check_writable(folder: str | os.PathLike[str], option: str = "--out") -> None:
    """Refuse, before any work, an output folder this process cannot create or write into.

    Tries a temporary file in the folder, or in its nearest existing ancestor when it does not exist yet,
    so nothing is left behind; permissions alone do not tell (root, read-only mounts, /proc)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        if not os.path.isdir(path):
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", path)
        fd, name = tempfile.mkstemp(dir=path, prefix=".optbench-writable-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OptbenchError(f"cannot write to {option} {folder}: {exc.strerror or exc} ({path}); "
                            "choose a folder you can write to") from None


def cli_registry(ctx: click.Context, extra: tuple[str, ...] = ()) -> Any:
    """The registry with the group's and the command's ``--plugin`` files; plugin problems as warnings."""
    from optbench.console import print_problems
    from optbench.registry import load_registry

    registry = load_registry(plugins=[*(ctx.obj or {}).get("plugins", ()), *extra])
    print_problems(registry)
    return registry


_registry = cli_registry  # the name older command modules import

"""The ``lrkit`` command.

Sub-commands live in modules of this package, one family each
(``schedules``: plot/values/show/list; ``experiment``: compare/find-lr).

Exit status and stderr:

* ``0``: done.
* ``2``: bad input, one line ``lrkit: error: <what and why>``, never a
  traceback. Bad input is an :class:`lrkit.Error` (a spec, a file, a
  parameter), a usage error of an option, an ``OSError`` that names a path
  (missing, unreadable or not writable) or says the disk is full or the output
  pipe closed, a missing optional dependency, or running out of memory.
* ``1``: anything else is a bug in lrkit: one line ``lrkit: internal error:
  <type>: <message> -- please report it (...)``. ``lrkit --debug ...`` or
  ``LRKIT_DEBUG=1`` prints the traceback above that line (and above an
  ``error:`` line too). Ctrl-C also exits 1 (``lrkit: aborted``).
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any

import click

from ..errors import Error

INTERNAL_ERROR_EXIT = 1
"""The exit status of a bug (an exception that is not one of lrkit's errors)."""

DEBUG_VARIABLE = "LRKIT_DEBUG"
"""Set it (to anything but ``0`` or nothing) to print the traceback of every error."""

_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EPIPE, getattr(errno, "EDQUOT", errno.ENOSPC)}
"""OSErrors that are about the machine, not lrkit, even when they name no path."""


class UserError(click.ClickException):
    """A bad input from the user: one line on stderr, exit status 2."""

    exit_code = 2

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace

    def show(self, file: Any = None) -> None:
        if self.trace:
            click.echo(self.trace.rstrip("\n"), err=True)
        click.echo(f"lrkit: error: {self.format_message()}", err=True)


class InternalError(click.ClickException):
    """An exception that is not bad input, hence a bug: one line asking for a report
    (with the traceback above it in debug mode), exit status :data:`INTERNAL_ERROR_EXIT`."""

    exit_code = INTERNAL_ERROR_EXIT

    def __init__(self, e: BaseException, trace: str = "") -> None:
        kind = type(e).__qualname__
        if type(e).__module__ != "builtins":
            kind = f"{type(e).__module__}.{kind}"
        super().__init__(f"{kind}: {_one_line(e)}")
        self.trace = trace

    def show(self, file: Any = None) -> None:
        if self.trace:
            click.echo(self.trace.rstrip("\n"), err=True)
        how = "" if self.trace else f" (run with --debug or {DEBUG_VARIABLE}=1 for the traceback)"
        click.echo(f"lrkit: internal error: {self.format_message()} -- please report it{how}",
                   err=True)


def debugging(ctx: click.Context | None = None) -> bool:
    """Whether ``--debug`` was given (to the group) or :data:`DEBUG_VARIABLE` is set."""
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def _user_facing(e: Exception) -> bool:
    """Whether ``e`` is bad input or the environment (exit 2) rather than a bug."""
    if isinstance(e, (Error, MemoryError)):
        return True
    if isinstance(e, OSError):
        return e.filename is not None or e.errno in _ENVIRONMENT_ERRNOS
    if isinstance(e, ImportError):  # a missing optional dependency, not lrkit's own module
        return not (e.name or "").split(".")[0] == "lrkit"
    return False


def _message(e: Exception) -> str:
    if isinstance(e, MemoryError):
        return "not enough memory for that; ask for fewer steps"
    if isinstance(e, OSError) and e.strerror:
        path = f"{e.filename!s}: " if e.filename is not None else ""
        return f"{path}{e.strerror}"
    return _one_line(e)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:  # sorted here into bad input (exit 2) and bugs (exit 1)
            trace = traceback.format_exc() if debugging(ctx) else ""
            if _user_facing(e):
                raise UserError(_message(e), trace) from None
            raise InternalError(e, trace) from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lrkit")
@click.option("--debug", is_flag=True,
              help=f"Print the traceback of an error (also: {DEBUG_VARIABLE}=1).")
def main(debug: bool) -> None:
    """Learning-rate schedules: plot them, find a good learning rate, compare them by training."""


def _load_commands() -> None:
    """Register the sub-commands (their modules import heavy libraries lazily)."""
    import importlib

    for name in ("schedules", "experiment", "predict"):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit status (used by tests)."""
    try:
        main.main(args=argv, prog_name="lrkit", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"lrkit: error: {_one_line(e)}{hint}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        click.echo("lrkit: aborted", err=True)
        return 1
    return 0


def entry() -> None:
    """The console-script entry point."""
    sys.exit(run())


_load_commands()

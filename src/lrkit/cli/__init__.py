"""The ``lrkit`` command.

Sub-commands live in modules of this package, one family each
(``schedules``: plot/values/show/list; ``experiment``: compare/find-lr;
``distributed``: worker/status/report; ``tune``: tune).

Exit status and stderr:

* ``0``: done.
* ``3``: ``lrkit compare`` ran but names no winner: every run diverged, or the
  best runs are no better than the untrained model or a trivial predictor
  (``lrkit.experiment.verdict``). The table, ``report.html`` and
  ``results.json`` (``"verdict"``) are written and say so; one line
  ``lrkit: NO WINNER: ...`` on stderr.
* ``2``: bad input, one line ``lrkit: error: <what and why>``, never a
  traceback. Bad input is an :class:`lrkit.Error` (a spec, a file, a
  parameter), a usage error of an option, an ``OSError`` that names a path
  (missing, unreadable or not writable) or says the disk is full or the output
  pipe closed, a missing optional dependency, or running out of memory.
* ``1``: anything else is a bug in lrkit: one line ``lrkit: internal error:
  <type>: <message> -- please report it (...)``. ``lrkit --debug ...`` or
  ``LRKIT_DEBUG=1`` prints the traceback above that line (and above an
  ``error:`` line too).
* ``130``: interrupted (Ctrl-C): ``lrkit: interrupted`` (``lrkit compare`` adds how many
  finished runs are stored and that rerunning the command resumes).

Bare ``lrkit`` prints the help (exit 0); a mistyped command or option gets a
"did you mean". Sub-commands are registered lazily (:data:`COMMANDS`): ``lrkit
--help``, ``plot``, ``values``, ``show`` and ``list`` never import the
experiment package (nor torch, optuna, rich or matplotlib).
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Any

import click

from ..errors import Error, closest

INTERNAL_ERROR_EXIT = 1
"""The exit status of a bug (an exception that is not one of lrkit's errors)."""

INTERRUPTED_EXIT = 130
"""The exit status after Ctrl-C (128 + SIGINT, the shell's convention)."""

COMMANDS: dict[str, tuple[str, str]] = {
    "compare": ("experiment", "Train a task under several schedules, fairly, and rank them."),
    "find-lr": ("experiment", "Find a good learning rate with the range test."),
    "list": ("schedules", "The catalogue: every schedule and combinator, with its parameters."),
    "predict": ("predict", "Predict schedules' validation-loss curves from stored runs, "
                "without training (experimental)."),
    "report": ("distributed", "Render a shared comparison's report from the store, now (also "
               "while workers run: runs not stored yet are left out and counted)."),
    "status": ("distributed", "How far a shared comparison is: runs stored, claimed (by which "
               "workers), waiting."),
    "worker": ("distributed", "Claim chunks of a shared comparison and train them, until "
               "every run is done."),
    "plot": ("schedules", "Overlay schedules (spec strings or schedule files) with a legend."),
    "show": ("schedules", "Print a schedule in the spec language or its data form."),
    "tune": ("tune", "Search schedule shapes and the peak with Optuna (TPE), batched."),
    "values": ("schedules",
               "Print a schedule's values at full precision (Python's repr of each float)."),
}
"""Every sub-command: the module of this package that defines it, and its one-line help
(what ``lrkit --help`` lists without importing the module; a test pins that it matches)."""

SHORT_HELP = 200
"""The longest one-line help (click would cut it at the terminal's width; the help
formatter wraps it instead)."""

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


class Interrupted(click.ClickException):
    """Ctrl-C: one line saying what was kept, exit status :data:`INTERRUPTED_EXIT`."""

    exit_code = INTERRUPTED_EXIT

    def show(self, file: Any = None) -> None:
        click.echo(f"lrkit: interrupted{'; ' if self.message else ''}{self.message}", err=True)


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
    """The ``lrkit`` group: commands load on first use; errors sorted into bad input and bugs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            _load_commands([COMMANDS[cmd_name][0]])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit=SHORT_HELP)))
            else:
                rows.append((name, COMMANDS[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0])
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            hint = closest(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}{hint}")
        return super().resolve_command(ctx, args)

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


def _load_commands(modules: list[str] | None = None) -> None:
    """Register the sub-commands of ``modules`` (default: every module of :data:`COMMANDS`)."""
    import importlib

    for name in modules or sorted({m for m, _ in COMMANDS.values()}):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return its exit status (used by tests)."""
    try:
        # without standalone mode click returns an Exit's status (compare's 3) as the value
        status = main.main(args=argv, prog_name="lrkit", standalone_mode=False)
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.exceptions.NoArgsIsHelpError as e:  # bare ``lrkit``: the help, not an error
        click.echo(e.ctx.get_help())
        return 0
    except click.UsageError as e:
        hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"lrkit: error: {_usage_message(e)}{hint}", err=True)
        return 2
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("lrkit: interrupted", err=True)
        return INTERRUPTED_EXIT
    return 0


def _usage_message(e: click.UsageError) -> str:
    """One line; an unknown option gets the nearest real one as a "did you mean"."""
    if isinstance(e, click.NoSuchOption) and e.ctx is not None:
        names = [o for p in e.ctx.command.get_params(e.ctx) for o in (*p.opts, *p.secondary_opts)
                 if o.startswith("-")]
        return f"No such option {e.option_name!r}{closest(e.option_name, names)}"
    return _one_line(e)


def entry() -> None:
    """The console-script entry point."""
    sys.exit(run())

"""The ``lrkit`` command.

Sub-commands live in modules of this package, one family each
(``schedules``: plot/values/show/list; ``experiment``: compare/find-lr).
Every user error exits with status 2 and one line on stderr, never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import SpecError


class UserError(click.ClickException):
    """A bad input from the user: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"lrkit: error: {self.format_message()}", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (SpecError, ValueError, TypeError, OSError, ImportError) as e:
            raise UserError(_one_line(e)) from None
        except MemoryError:
            raise UserError("not enough memory for that; ask for fewer steps") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lrkit")
def main() -> None:
    """Learning-rate schedules: plot them, find a good learning rate, compare them by training."""


def _load_commands() -> None:
    """Register the sub-commands (their modules import heavy libraries lazily)."""
    import importlib

    for name in ("schedules", "experiment"):
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

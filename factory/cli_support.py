"""What every ``munjero`` command shares: one-line answers to user mistakes (exit code 2, never a
traceback), output that is not cut when piped, ``--json`` printing, topic validation and the
version.

A mistake is answered on stderr as ``munjero <command>: <what is wrong and the valid choices>``
and exit code 2, whether click found it (a missing option, an unknown command) or a command did
(``raise typer.BadParameter(...)`` or ``fail(...)``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console, ConsoleDimensions

# Typer 0.29 vendors click: its exceptions and context are these, not the click package's.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from streams import __version__
from streams.catalogue import EVENT_TOPICS, topic

# When output goes to a pipe or a file nothing wraps it later: never cut a table to 80 columns.
PIPE_WIDTH = 100_000
USAGE_ERROR = 2


class CliConsole(Console):
    """A console as wide as the terminal, or unlimited when the output is not a terminal
    (rich otherwise takes the width of whatever terminal stdin or stderr is, or 80)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)  # type: ignore[attr-defined]
        return size if self.is_terminal else ConsoleDimensions(PIPE_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def console() -> Console:
    """The console of the current invocation (sys.stdout as it is now: tests swap it)."""
    return CliConsole()


def print_json(data: Any) -> None:
    """One JSON document on stdout (``--json``): UTF-8 text as is, times as ISO 8601."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _one_line(message: str) -> str:
    # Typer validates option types with pydantic, whose messages start with this.
    return " ".join(message.replace("Value error, ", "").split())


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """End the command with ``message`` on one line of stderr and exit ``code``."""
    ctx = get_current_context(silent=True)
    where = ctx.command_path if ctx is not None else "munjero"
    typer.echo(f"{where}: {_one_line(message)}", err=True)
    raise typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The root group: click's usage errors become one line too (no usage block, no box)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except NoArgsIsHelpError as exc:  # the help is already printed: nothing to add
            result = exc.exit_code
        except ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else (prog_name or "munjero")
            hint = f" (see '{where} --help')" if isinstance(exc, UsageError) else ""
            typer.echo(f"{where}: {_one_line(exc.format_message())}{hint}", err=True)
            result = exc.exit_code
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            result = 1
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def print_version(value: bool) -> None:
    """``--version``: print and exit before any command runs."""
    if value:
        typer.echo(f"munjero {__version__}")
        raise typer.Exit(0)


def event_topic_names() -> list[str]:
    return [spec.name for spec in EVENT_TOPICS]


def check_event_topic(name: str) -> str:
    """``--topic`` of the dlq commands: an event topic, or a one-line answer naming them."""
    names = event_topic_names()
    if name in names:
        return name
    choices = ", ".join(names)
    try:
        spec = topic(name)
    except KeyError:
        raise typer.BadParameter(f"unknown topic {name!r}; event topics: {choices}") from None
    if spec.parent is not None:
        raise typer.BadParameter(
            f"{name!r} is the {spec.role.value} topic of {spec.parent}: pass --topic {spec.parent}"
        )
    raise typer.BadParameter(f"{name!r} is not an event topic; event topics: {choices}")

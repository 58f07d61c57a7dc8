"""Shared pieces of the command line: consoles, error handling, JSON output."""

from __future__ import annotations

import json
import math
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from livermets.errors import LivermetsError

console = Console()
err_console = Console(stderr=True)


class LivermetsGroup(TyperGroup):
    """A command group that turns ``LivermetsError`` into a message and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; print user errors without a traceback."""
        try:
            try:
                return super().invoke(ctx)
            except ModuleNotFoundError as exc:
                raise missing_extra_error(exc) from exc
        except LivermetsError as exc:
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(code=exc.exit_code) from None


def missing_extra_error(exc: ModuleNotFoundError) -> Exception:
    """A MissingExtraError when ``exc`` is a module of an optional livermets part, else ``exc``."""
    from livermets._extras import EXTRAS, MissingExtraError, install_hint

    top = (exc.name or "").split(".")[0]
    for extra, modules in EXTRAS.items():
        if top in modules:
            return MissingExtraError(
                f"this command needs the optional package {top!r} (livermets[{extra}]), which "
                f"is not installed. Install it with: {install_hint(extra)}")
    return exc


def new_app(help_text: str) -> typer.Typer:
    """Create a typer app that uses the livermets error handling."""
    return typer.Typer(
        cls=LivermetsGroup,
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode="rich",
    )


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars, NaN and paths into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def print_json(payload: Any) -> None:
    """Print a JSON document on stdout (no rich markup)."""
    typer.echo(json.dumps(_jsonable(payload), indent=2))

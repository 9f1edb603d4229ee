"""The `spendsight` command line: thin commands over models/, collectors/ and alerts/, one module per
command group (cli/orgs.py, cli/sources.py, ...), shared helpers in cli/common.py and cli/store.py.

Command modules are imported when their command runs, not all at start: together they import every
domain package (about 1.4 s on the 2-core machine), while one command needs a part of it and
`spendsight --help` needs none (0.05 s). This is click's documented lazy-loading group, fed by the
table below.
"""

from __future__ import annotations

import gc
import importlib
from typing import TYPE_CHECKING

import typer
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

if TYPE_CHECKING:  # the click that typer runs on: its own copy (typer._click), not the click package
    from typer._click import Command, Context

# command (or command group) -> the module whose Typer `app` defines it, in the order `--help` lists them
COMMANDS = {
    "init": "cli.setup",
    "demo": "cli.setup",
    "ingest": "cli.ingest",
    "report": "cli.report",
    "org": "cli.orgs",
    "member": "cli.orgs",
    "rollup": "cli.setup",
    "worker": "cli.setup",
    "source": "cli.sources",
    "collect": "cli.sources",
    "credit": "cli.budgets",
    "limit": "cli.budgets",
    "forecast": "cli.budgets",
    "backtest": "cli.budgets",
    "alerts": "cli.alerts",
    "user": "cli.users",
    "gateway": "cli.gateway",
    "otlp": "cli.otlp",
    "fx": "cli.statements",
    "statement": "cli.statements",
}


class LazyGroup(TyperGroup):
    """The root group: each command is looked up in its module's Typer app when it is asked for."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        # Bytes that are not UTF-8 arrive as lone surrogates, which no database, file name check or
        # terminal takes: refused once here (exit 2) rather than failing deep inside a command.
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                shown = arg.encode("utf-8", "backslashreplace").decode()
                raise UsageError(f"argument {shown!r} is not valid UTF-8", ctx) from None
            # A NUL byte: no value of ours may hold one (an OS never passes one in argv; it only
            # arrives from a caller in-process), and PostgreSQL refuses it in any text it is bound to.
            if "\x00" in arg:
                raise UsageError(f"argument {arg[:40]!r} contains a NUL character", ctx)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        group = typer.main.get_group(importlib.import_module(module).app)
        return group.get_command(ctx, cmd_name)


app = typer.Typer(
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Spendsight: LLM API usage and cost monitor.",
)


@app.callback()
def main() -> None:
    """Spendsight: LLM API usage and cost monitor."""


def run() -> None:
    """The `spendsight` console script: the app, then an interpreter exit without a full collection."""
    try:
        app()
    finally:
        # The interpreter's shutdown collects garbage over every object the imports left (SQLAlchemy's
        # and genai-prices' above all): 1.2-1.5 s after the work was done, at load 3.6, against 0.34 s
        # with them frozen. Frozen objects are only skipped by the collector: atexit handlers (the
        # database's connections closing) and module teardown still run.
        gc.freeze()

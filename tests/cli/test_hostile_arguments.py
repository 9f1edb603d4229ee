"""Every argument of every command, given hostile values: a result or exit 2 with a message, never a
traceback. The commands are walked from cli.COMMANDS, so a new command is covered when it is added."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import COMMANDS, app
from tests.factories import make_org

# Long-running or whole-database commands: `worker` runs until stopped, `demo` loads a demo data set.
SKIP = {"worker", "demo"}
HOSTILE = [
    "",
    "\x00",
    "a\x1b[31mb",
    "x" * 5000,
    "-1",
    "99999999999999999999999999",
    "nan",
    "1,5",
    "2026-13-45",
    "0001-01-01",
    "9999-12-31",
    "../../../etc/passwd",
    "ceo,attacker@evil.example",
    "\udcff",
]
# On PostgreSQL, the values whose handling can differ by backend: they reach the database (NUL, which
# PostgreSQL refuses; over-long text, which it refuses and SQLite stores; numbers past BIGINT). The
# rest are parsing, already walked on SQLite; walking all of them twice costs minutes for nothing.
HOSTILE_ON_POSTGRES = ["", "\x00", "x" * 5000, "99999999999999999999999999", "\udcff"]
# What a required argument holds while another one is being attacked.
BASELINE = {
    "org": "org-x",
    "id": "org-x",
    "name": "Org X",
    "email": "owner@example.com",
    "start": "2026-11-01",
    "end": "2026-12-01",
    "amount": "10",
    "expires": "2030-01-01",
    "provider": "openai",
    "key_env": "OPENAI_ADMIN_KEY",
}


def commands() -> list[tuple[tuple[str, ...], typer.core.TyperCommand]]:
    """(path, click command) for every leaf command reachable from cli.COMMANDS."""
    found = []

    def walk(path: tuple[str, ...], command) -> None:
        sub = getattr(command, "commands", None)
        if sub:
            for name, child in sorted(sub.items()):
                walk((*path, name), child)
        else:
            found.append((path, command))

    for name, module in COMMANDS.items():
        if name in SKIP:
            continue
        group = typer.main.get_group(importlib.import_module(module).app)
        walk((name,), group.get_command(None, name))
    return found


def cases() -> list[tuple[tuple[str, ...], str]]:
    out = []
    for path, command in commands():
        for param in command.params:
            if param.name and not getattr(param, "is_flag", False) and param.name != "help":
                out.append((path, param.name))
    return out


def _args(command, target: str, value: str, data: Path) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if getattr(param, "is_flag", False) or param.name == "help":
            continue
        if param.name == target:
            given = value
        elif param.required:
            given = BASELINE.get(param.name or "", "x")
            if param.name in ("paths", "daily_csv"):
                given = str(data)
        else:
            continue
        if param.param_type_name == "argument":
            args.append(given)
        else:
            args += [param.opts[0], given]
    return args


@pytest.mark.parametrize("path,target", cases(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_hostile_values_give_exit_2_or_a_result_never_a_traceback(path, target, tmp_path, backend):
    make_org("org-x", owners=("owner@example.com",))
    data = tmp_path / "in.csv"
    data.write_text("date,cost_usd\n2026-11-01,1\n")
    command = dict(commands())[path]
    runner = CliRunner()
    for value in HOSTILE_ON_POSTGRES if backend == "postgresql" else HOSTILE:
        args = [*path, *_args(command, target, value, data)]
        result = runner.invoke(app, args, input="a long enough password\n" * 2, catch_exceptions=True)
        shown = f"{' '.join(path)} --{target} {value[:20]!r}: exit {result.exit_code}\n{result.output[-500:]}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            shown + f"\n{type(result.exception).__name__}: {result.exception}"
        )
        assert "Traceback" not in result.output, shown
        assert result.exit_code in (0, 2, 3), shown
        if result.exit_code == 2:
            assert result.stderr.strip(), shown

"""What every command shares: exit codes, `fail` and `refused`, argument parsing, money text, one progress helper.

Only light imports here: `spendsight ingest` starts its helper processes before the database code
is imported (cli/store.py holds what needs it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import NoReturn

import typer
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, TaskID, TimeRemainingColumn
from rich.progress import Progress as Bars

EXIT_FAILED = 1  # a collection, an alert run or a parallel ingest process failed
EXIT_USAGE = 2  # bad input: nothing was done
EXIT_QUARANTINED = 3  # ingest stored the good lines and quarantined the others


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def refused(*refusals: type[Exception]) -> Iterator[None]:
    """The commands' shared error handling: a refusal from below (a ValidationError, a PermissionDenied,
    ...) as `error: <its message>` and exit 2, never a traceback. The kinds are the caller's, so this
    module imports nothing of ours (`spendsight ingest` starts its helpers before models/ loads)."""
    try:
        yield
    except refusals as exc:
        fail(str(exc))


# Days a command takes: what usage can hold (ingest keeps 1970-2199), with room for date arithmetic
# (a month back, a year ahead) that would overflow at datetime's own limits.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)


def parse_day(value: str, option: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value[:40]!r}: expected a date YYYY-MM-DD")
    if not FIRST_DAY <= day <= LAST_DAY:
        fail(f"{option} {value}: expected a date between {FIRST_DAY} and {LAST_DAY}")
    return day


def usd_text(value: Decimal | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


class Progress:
    """Bars on a terminal (one per file or endpoint); every method does nothing when `bars` is None."""

    def __init__(self, bars: Bars | None) -> None:
        self.bars = bars
        self._tasks: dict[str, TaskID] = {}
        self._current: TaskID | None = None

    def file(self, path: object, size: int) -> None:
        """A new bar of `size` bytes (ingest calls it per file, then `bytes` as it reads)."""
        if self.bars is not None:
            self._current = self.bars.add_task(str(path), total=size)

    def bytes(self, n: int) -> None:
        if self.bars is not None and self._current is not None:
            self.bars.advance(self._current, n)

    def steps(self, label: str, done: int, total: int) -> None:
        """`done` of `total` for the bar `label` (collect: windows of each endpoint)."""
        if self.bars is None:
            return
        if label not in self._tasks:
            self._tasks[label] = self.bars.add_task(label, total=total)
        self.bars.update(self._tasks[label], completed=done, total=total)


@contextmanager
def progress(unit: str = "bytes") -> Iterator[Progress]:
    """Progress bars in bytes or in steps on a terminal; silence otherwise (pipes, CI, tests)."""
    if not sys.stderr.isatty():
        yield Progress(None)
        return
    columns = (DownloadColumn(), TimeRemainingColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    with Bars("{task.description}", BarColumn(), *columns, transient=True) as bars:
        yield Progress(bars)

"""Reading request-log files as a stream of (line number, parsed record or rejection)."""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Callable, Iterator
from io import BufferedIOBase
from pathlib import Path
from typing import TYPE_CHECKING

from collectors.base import Record
from collectors.logs import formats
from collectors.logs.formats import Reject
from collectors.logs.settings import CSV_FIELDS, LITELLM_COLUMNS

if TYPE_CHECKING:  # for an annotation: what loads msgspec stays the caller's choice
    from collectors.logs.fast import FastPath

BINARY_SNIFF = 8192  # bytes read to tell a binary file from text
# Arbitrarily long CSV fields (LiteLLM keeps whole messages in a cell).
csv.field_size_limit(1 << 30)


class UsageError(ValueError):
    """The command line or file cannot be used at all (exit 2)."""


class Item:
    """One input unit: its line number, raw text, and the parsed record or the rejection."""

    __slots__ = ("line", "raw", "record", "reject")

    def __init__(self, line: int, raw: str, record: formats.Parsed | None = None, reject: Reject | None = None) -> None:
        self.line, self.raw, self.record, self.reject = line, raw, record, reject


class Position:
    """Where reading stopped: the byte offset after the last complete line, and that line's number."""

    __slots__ = ("offset", "line")

    def __init__(self, offset: int = 0, line: int = 0) -> None:
        self.offset, self.line = offset, line


class Lines:
    """Decoded lines of a file from a position, tracking how far complete lines have been consumed.

    With `complete_only`, a last line without its newline is left for later: a writer may still be
    appending it (the worker tails growing logs this way).
    """

    def __init__(
        self,
        path: Path,
        start: Position | None = None,
        complete_only: bool = False,
        sized: Callable[[int], None] | None = None,
        stop: int | None = None,
    ) -> None:
        self.path, self.complete_only, self.stop = path, complete_only, stop
        self.position = Position(start.offset, start.line) if start else Position()
        self._sized = sized or (lambda n: None)

    def _open(self) -> BufferedIOBase:
        if self.path.suffix == ".gz":
            return gzip.open(self.path, "rb")
        return self.path.open("rb")

    def __iter__(self) -> Iterator[str]:
        with self._open() as fh:
            if self.position.offset:
                fh.seek(self.position.offset)
            try:
                for chunk in fh:
                    # A CR other than a CRLF's means old-Mac (CR-only) line ends: each piece is a line.
                    cr = chunk.find(b"\r")
                    split = cr >= 0 and not (cr == len(chunk) - 2 and chunk[-1] == 10)
                    for raw in chunk.splitlines(keepends=True) if split else (chunk,):
                        if self.stop is not None and self.position.offset >= self.stop:
                            return
                        if self.complete_only and not raw.endswith((b"\n", b"\r")):
                            return
                        self.position.offset += len(raw)
                        self.position.line += 1
                        self._sized(len(raw))
                        yield raw.decode("utf-8", "replace")
            except (OSError, EOFError, zlib.error) as exc:  # a .gz cut short or corrupt past its start
                raise Unreadable(
                    self.position.line + 1, f"unreadable from line {self.position.line + 1} on: {exc}"
                ) from None


class Unreadable(Exception):
    """The rest of a file cannot be read (a corrupt or truncated .gz): the lines before it stand."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def check_readable(path: Path) -> None:
    """Refuse, before anything is stored, a file that cannot be read as text at all (exit 2)."""
    try:
        with Lines(path)._open() as fh:
            head = fh.read(BINARY_SNIFF)
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(f"{path}: cannot be read: {exc}") from None
    # Mostly NUL bytes (UTF-16, images, archives) or mostly not UTF-8: not a log. A stray NUL or bad
    # byte in one line is that line's problem (quarantined), not the file's.
    undecodable = head.decode("utf-8", "replace").count("\ufffd")
    if head.count(b"\x00") * 32 > len(head) or undecodable * 8 > len(head):
        raise UsageError(f"{path}: a binary file, not a request log (JSONL or CSV)")


def first_line(path: Path) -> str:
    for line in Lines(path):
        if line.strip():
            return line
    return ""


def detect_format(path: Path) -> str:
    """Guess a file's format from its name and first meaningful line."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl-auto"  # named so: a first line that is not JSON is quarantined, not read as a CSV header
    first = first_line(path)
    if name.endswith(".csv") or (first and not first.lstrip().startswith("{")):
        header = set(next(csv.reader([first]), []))
        return "litellm-csv" if LITELLM_COLUMNS <= header else "csv"
    return "jsonl-auto"


def read_jsonl(lines: Lines, provider: str | None, fast: FastPath | None = None) -> Iterator[Item | Record]:
    """JSONL: each line an OpenAI or Anthropic response, bare or wrapped.

    `fast` (a collectors.logs.fast.FastPath) turns well-formed lines into finished usage records,
    yielded as they are: wrapping each in an Item cost a tenth of the line's whole ingest.
    """
    position = lines.position
    for line in lines:
        if fast is not None:
            ready = fast.record(line, position.line)
            if ready is not None:
                yield ready
                continue
        if not line.strip():
            continue
        number = lines.position.line
        try:
            obj = formats.load_json_line(line)
            wrapper, payload = formats.unwrap(obj)
            kind = formats.detect_provider(payload)
            if provider and kind != provider:
                other = "anthropic-jsonl" if kind == "anthropic" else "openai-jsonl"
                raise Reject("format", f"looks like an {kind} response; use --format {other} or auto")
            record = formats.parse_anthropic(payload) if kind == "anthropic" else formats.parse_openai(payload)
            formats.apply_wrapper(record, wrapper)
            yield Item(number, line, record=record)
        except Reject as reject:
            yield Item(number, line, reject=reject)


def read_csv(lines: Lines, fmt: str, mapping: dict[str, str]) -> Iterator[Item]:
    """CSV: a LiteLLM spend-log export, or any CSV read through --map (a resumed read re-reads the header)."""
    path = lines.path
    header_line = first_line(path)
    header = next(csv.reader([header_line]), [])
    if fmt == "csv":
        mapping = resolve_mapping(path, header, mapping)
    elif not LITELLM_COLUMNS <= set(header):
        missing = sorted(LITELLM_COLUMNS - set(header))
        raise UsageError(f"{path}: not a LiteLLM spend-log export; missing columns {', '.join(missing)}")
    body = iter(lines)
    if lines.position.line == 0:
        next(body, None)  # the header itself
    reader = csv.DictReader(body, fieldnames=header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # the reader goes on with the next line
            yield Item(lines.position.line, "", reject=Reject("csv", f"unreadable CSV: {exc}"))
            continue
        number = lines.position.line
        raw = ",".join("" if v is None else str(v) for v in row.values())
        if None in row:
            got = len(header) + len(row[None])
            yield Item(number, raw, reject=Reject("columns", f"{got} columns, header has {len(header)}"))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        try:
            record = formats.parse_litellm_row(row) if fmt == "litellm-csv" else formats.parse_csv_row(row, mapping)
            yield Item(number, raw, record=record)
        except Reject as reject:
            yield Item(number, raw, reject=reject)


def resolve_mapping(path: Path, header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """--map pairs plus columns already named like a field; every mapped column must exist."""
    resolved = {f: f for f in CSV_FIELDS if f in header}
    for field, column in mapping.items():
        if column not in header:
            raise UsageError(f"{path}: --map {field}={column}: no column {column!r} (columns: {', '.join(header)})")
        resolved[field] = column
    if "input_tokens" not in resolved and "output_tokens" not in resolved:
        raise UsageError(
            f"{path}: no token columns; map them, e.g. "
            "--map input_tokens=ContextTokens --map output_tokens=GeneratedTokens"
        )
    return resolved


def parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            raise UsageError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. --map input_tokens=ContextTokens")
        if field not in CSV_FIELDS:
            raise UsageError(f"--map {pair!r}: unknown field {field!r}; fields: {', '.join(CSV_FIELDS)}")
        mapping[field] = column
    return mapping

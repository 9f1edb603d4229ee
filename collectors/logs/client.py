"""Reading request-log files as a stream of (line number, parsed record or rejection)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from collectors.logs import formats
from collectors.logs.formats import Reject
from collectors.logs.settings import CSV_FIELDS, LITELLM_COLUMNS

# Arbitrarily long CSV fields (LiteLLM keeps whole messages in a cell).
csv.field_size_limit(1 << 30)


class UsageError(ValueError):
    """The command line or file cannot be used at all (exit 2)."""


class Item:
    """One input unit: its line number, raw text, and the record or the rejection."""

    __slots__ = ("line", "raw", "record", "reject")

    def __init__(self, line: int, raw: str, record: dict | None = None, reject: Reject | None = None):
        self.line, self.raw, self.record, self.reject = line, raw, record, reject


def open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def detect_format(path: Path) -> str:
    """Guess a file's format from its name and first meaningful line."""
    name = path.name.lower().removesuffix(".gz")
    with open_text(path) as fh:
        first = ""
        for first in fh:
            if first.strip():
                break
    if name.endswith(".csv") or (first and not first.lstrip().startswith("{")):
        header = set(next(csv.reader([first]), []))
        return "litellm-csv" if LITELLM_COLUMNS <= header else "csv"
    return "jsonl-auto"


def read_jsonl(path: Path, provider: str | None, sized: Callable[[int], None]) -> Iterator[Item]:
    """JSONL: each line an OpenAI or Anthropic response, bare or wrapped."""
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            sized(len(line))
            if not line.strip():
                continue
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


def read_csv(path: Path, fmt: str, mapping: dict[str, str], sized: Callable[[int], None]) -> Iterator[Item]:
    """CSV: a LiteLLM spend-log export, or any CSV read through --map."""
    with open_text(path) as fh:
        header_line = fh.readline()
        sized(len(header_line))
        header = next(csv.reader([header_line]), [])
        if fmt == "csv":
            mapping = resolve_mapping(path, header, mapping)
        elif not LITELLM_COLUMNS <= set(header):
            missing = sorted(LITELLM_COLUMNS - set(header))
            raise UsageError(f"{path}: not a LiteLLM spend-log export; missing columns {', '.join(missing)}")
        reader = csv.DictReader(_counting(fh, sized), fieldnames=header)
        number = 1
        for row in reader:
            number = reader.line_num + 1  # +1 for the header read above
            raw = ",".join("" if v is None else str(v) for v in row.values())
            if None in row:
                yield Item(number, raw, reject=Reject("columns", f"{len(header) + len(row[None])} columns, header has {len(header)}"))
                continue
            if not any((v or "").strip() for v in row.values()):
                continue
            try:
                record = formats.parse_litellm_row(row) if fmt == "litellm-csv" else formats.parse_csv_row(row, mapping)
                yield Item(number, raw, record=record)
            except Reject as reject:
                yield Item(number, raw, reject=reject)


def _counting(fh, sized: Callable[[int], None]):
    for line in fh:
        sized(len(line))
        yield line


def resolve_mapping(path: Path, header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """--map pairs plus columns already named like a field; every mapped column must exist."""
    resolved = {f: f for f in CSV_FIELDS if f in header}
    for field, column in mapping.items():
        if column not in header:
            raise UsageError(f"{path}: --map {field}={column}: no column {column!r} (columns: {', '.join(header)})")
        resolved[field] = column
    if "input_tokens" not in resolved and "output_tokens" not in resolved:
        raise UsageError(
            f"{path}: no token columns; map them, e.g. --map input_tokens=ContextTokens --map output_tokens=GeneratedTokens"
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

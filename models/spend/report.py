"""The `spendsight report` contract: rows, column order, CSV and JSON rendering."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from models.csvsafe import neutralize
from models.spend.queries import SpendQuery, spend
from models.units import MICRO

REPORT_BY = ("day", "week", "month", "model", "project", "api_key", "user", "provider", "service_tier", "batch")
REPORT_COLUMNS = ("requests", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd", "unpriced_requests")


def report_rows(org_id: str, start: date, end: date, by: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """One dict per group, keys in contract order; cost_usd is a Decimal rounded to the micro-dollar."""
    rows = spend(SpendQuery.make(org_id, start, end, by=by))
    if not rows and not by:
        rows = spend(SpendQuery.make(org_id, start, end))  # still one (zero) total row
    out: list[dict[str, object]] = []
    for row in rows:
        record = {b: row.keys[b] for b in by}
        record.update(
            requests=row.counters["requests"],
            input_tokens=row.counters["input_tokens"],
            cached_input_tokens=row.counters["cached_input_tokens"],
            output_tokens=row.counters["output_tokens"],
            cost_usd=row.cost.quantize(MICRO),
            unpriced_requests=row.unpriced_requests,
        )
        out.append(record)
    if not out and not by:
        out.append(dict.fromkeys(REPORT_COLUMNS, 0) | {"cost_usd": Decimal("0.000000")})
    return out


def render(rows: Sequence[Mapping[str, object]], columns: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _json_value(r[c]) for c in columns} for r in rows], indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_csv_value(r[c]) for c in columns])
    return buffer.getvalue()


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    return value


def _csv_value(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralize(value)  # project, user and model names are whatever a log said: never a formula

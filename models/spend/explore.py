"""The spend explorer's numbers: periods, grouped spend with the previous period, billed amounts, exports.

Every amount comes from models.spend (exact Decimal, priced at each usage's own date); this module
only chooses periods, lines rows up with the previous period and the provider's bills, and writes
what the page shows to CSV and Excel with spreadsheet formula injection neutralised.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, text

from models.csvsafe import neutralize
from models.db import as_utc, bind_time, get_engine
from models.pricing.catalog import Catalog
from models.spend.queries import FILTER_COLUMNS, SpendQuery, SpendRow, key_value, merge, spend
from models.spend.rollups import KEY_VALUES, MONTHLY, daily_table
from models.tables import PROJECT_ROLLUP_KEY
from models.units import MICRO, add_months, month_start

CENT = Decimal("0.01")

PRESETS = ("this_month", "last_month", "last_30", "last_90", "custom")
DIMENSIONS = ("org", "project", "model", "provider", "api_key", "user")
GRAINS = ("day", "week", "month")
COUNTER_COLUMNS = ("requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
# What a provider's bill is broken down by; a grouping or filter outside these has no billed figure.
BILLED_DIMENSIONS: dict[str, Literal["org_id", "project_id", "model", "provider"]] = {
    "org": "org_id",
    "project": "project_id",
    "model": "model",
    "provider": "provider",
}
KEY_NAMES = ("api_key", "user")
ZERO = Decimal(0)


class ExploreError(ValueError):
    """A period or grouping the explorer cannot show; the message names the field."""


# --- periods ---------------------------------------------------------------------------------


def period(preset: str, today: date, start: date | None = None, end: date | None = None) -> tuple[date, date]:
    """[start, end) for a preset; `custom` takes start and an inclusive end (as a date picker gives them)."""
    if preset == "this_month":
        return month_start(today), today + timedelta(days=1)
    if preset == "last_month":
        first = month_start(today)
        return add_months(first, -1), first
    if preset == "last_30":
        return today - timedelta(days=29), today + timedelta(days=1)
    if preset == "last_90":
        return today - timedelta(days=89), today + timedelta(days=1)
    if preset == "custom":
        if start is None or end is None:
            raise ExploreError("custom period: choose a first and a last day")
        if end < start:
            raise ExploreError(f"custom period: the last day {end} is before the first day {start}")
        return start, end + timedelta(days=1)
    raise ExploreError(f"period {preset!r}: choose one of {', '.join(PRESETS)}")


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period to compare with: the previous month(s) for whole or month-to-date months, else the
    same number of days just before."""
    if start.day == 1:
        if end.day == 1:  # whole months
            months = (end.year - start.year) * 12 + end.month - start.month
            return add_months(start, -months), start
        if (end - timedelta(days=1)).month == start.month and end.year == start.year:  # month to date
            prev_start = add_months(start, -1)
            days = (end - start).days
            prev_end = min(prev_start + timedelta(days=days), start)
            return prev_start, prev_end
    length = end - start
    return start - length, start


# --- the explorer's rows ---------------------------------------------------------------------


@dataclass
class Explore:
    """What the explorer shows for one query: a table, a series for the chart, totals."""

    start: date
    end: date
    group_by: tuple[str, ...]
    grain: str
    split: bool
    table: pd.DataFrame  # group keys, counters, cost_usd (Decimal), [prev_cost_usd, delta_usd, delta_pct], [billed_usd]
    series: pd.DataFrame  # period (str), group (str or ""), cost_usd (Decimal)
    total_cost: Decimal = ZERO
    total_requests: int = 0
    total_tokens: int = 0
    unpriced_requests: int = 0
    previous: tuple[date, date] | None = None
    previous_cost: Decimal | None = None
    billed_total: Decimal | None = None
    billed_note: str = ""  # why there is no billed column ('' when there is one, or no bills at all)
    columns: list[str] = field(default_factory=list)

    @property
    def delta(self) -> Decimal | None:
        return None if self.previous_cost is None else self.total_cost - self.previous_cost

    @property
    def delta_pct(self) -> Decimal | None:
        if self.previous_cost is None or self.previous_cost == 0:
            return None
        return (self.total_cost - self.previous_cost) / self.previous_cost


def explore(
    org_ids: Sequence[str],
    start: date,
    end: date,
    group_by: Sequence[str] = (),
    grain: str = "day",
    filters: Mapping[str, Iterable[str]] | None = None,
    split: bool = False,
    compare: bool = True,
    catalog: Catalog | None = None,
) -> Explore:
    """Spend of `org_ids` in [start, end) grouped by `group_by` (and by `grain` when `split`)."""
    group_by = tuple(dict.fromkeys(group_by))
    for name in group_by:
        if name not in DIMENSIONS:
            raise ExploreError(f"group by {name!r}: choose from {', '.join(DIMENSIONS)}")
    if grain not in GRAINS:
        raise ExploreError(f"time grain {grain!r}: choose from {', '.join(GRAINS)}")
    filters = {k: tuple(v) for k, v in (filters or {}).items() if v}
    for name in filters:
        if name not in FILTER_COLUMNS:
            raise ExploreError(f"filter {name!r}: choose from {', '.join(FILTER_COLUMNS)}")
    keys = ((grain,) if split else ()) + group_by
    # The chart's series (by grain and the first grouping) is read once; with at most one grouping
    # the table is those same rows, or their sums per group: no second scan of the period.
    series_rows = spend(SpendQuery.make(org_ids, start, end, by=(grain, *group_by[:1]), filters=filters), catalog)
    if len(group_by) > 1:
        rows = spend(SpendQuery.make(org_ids, start, end, by=keys, filters=filters), catalog)
    else:
        rows = series_rows if split else merge(series_rows, keys)
    records: list[dict[str, Any]] = []  # the table's rows: group keys, int counters, Decimal money
    for row in rows:
        record: dict[str, Any] = {k: row.keys[k] for k in keys}
        record.update({c: row.counters[c] for c in COUNTER_COLUMNS})
        record["cost_usd"] = row.cost
        record["unpriced_requests"] = row.unpriced_requests
        record["unpriced_tokens"] = row.unpriced_tokens
        records.append(record)
    columns = [*keys, *COUNTER_COLUMNS, "cost_usd"]
    result = Explore(start, end, group_by, grain, split, pd.DataFrame(), pd.DataFrame())
    result.total_cost = sum((r["cost_usd"] for r in records), ZERO)
    result.total_requests = sum(r["requests"] for r in records)
    result.total_tokens = sum(r["input_tokens"] + r["output_tokens"] for r in records)
    result.unpriced_requests = sum(r["unpriced_requests"] for r in records)

    if compare:
        prev_start, prev_end = previous_period(start, end)
        prev_rows = spend(SpendQuery.make(org_ids, prev_start, prev_end, by=group_by, filters=filters), catalog)
        result.previous = (prev_start, prev_end)
        result.previous_cost = sum((r.cost for r in prev_rows), ZERO)
        if not split:
            prev = {tuple(r.keys[k] for k in group_by): r.cost for r in prev_rows}
            seen = set()
            for record in records:
                key = tuple(record[k] for k in group_by)
                seen.add(key)
                before = prev.get(key, ZERO)
                record["prev_cost_usd"] = before
                record["delta_usd"] = record["cost_usd"] - before
                record["delta_pct"] = (record["cost_usd"] - before) / before if before else None
            for key, before in prev.items():  # groups that spent before and stopped: a real change
                if key in seen:
                    continue
                record = dict(zip(group_by, key))
                record.update(dict.fromkeys(COUNTER_COLUMNS, 0))
                record.update(
                    cost_usd=ZERO,
                    unpriced_requests=0,
                    unpriced_tokens=0,
                    prev_cost_usd=before,
                    delta_usd=-before,
                    delta_pct=Decimal(-1) if before else None,
                )
                records.append(record)
            columns += ["prev_cost_usd", "delta_usd", "delta_pct"]

    billed = billed_costs(org_ids, start, end)
    if billed:
        unsupported = [k for k in (*group_by, *filters) if k not in BILLED_DIMENSIONS]
        if unsupported:
            result.billed_note = unsupported[0]
        else:
            wanted = [r for r in billed if _billed_matches(r, filters)]
            result.billed_total = sum((r["amount_usd"] for r in wanted), ZERO)
            sums: dict[tuple[object, ...], Decimal] = defaultdict(lambda: ZERO)
            for r in wanted:
                sums[tuple(_billed_key(r, k, grain) for k in keys)] += r["amount_usd"]
            index = {tuple(rec[k] for k in keys): rec for rec in records}
            for key in sums:
                if key not in index:
                    record = dict(zip(keys, key))
                    record.update(dict.fromkeys(COUNTER_COLUMNS, 0))
                    record.update(cost_usd=ZERO, unpriced_requests=0, unpriced_tokens=0)
                    if "prev_cost_usd" in columns:
                        record.update(prev_cost_usd=ZERO, delta_usd=ZERO, delta_pct=None)
                    records.append(record)
                    index[key] = record
            for key, record in index.items():
                record["billed_usd"] = sums.get(key, ZERO)
            columns.append("billed_usd")
    columns += ["unpriced_requests", "unpriced_tokens"]
    result.columns = columns
    frame = pd.DataFrame(records, columns=columns)
    if not frame.empty:
        frame = frame.sort_values("cost_usd", ascending=False, kind="stable", key=lambda s: s.map(float))
        if split:
            frame = frame.sort_values(grain, kind="stable")
        frame = frame.reset_index(drop=True)
    result.table = frame
    result.series = _series(series_rows, grain, group_by[:1])
    return result


def _series(rows: Iterable[SpendRow], grain: str, color: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"period": r.keys[grain], "group": str(r.keys[color[0]]) if color else "", "cost_usd": r.cost} for r in rows],
        columns=["period", "group", "cost_usd"],
    )


# --- billed amounts (provider cost APIs) -----------------------------------------------------


class BilledCost(TypedDict):
    org_id: str
    provider: str
    project_id: str
    model: str
    day: date  # in the org's time zone
    amount_usd: Decimal


def billed_costs(org_ids: Sequence[str], start: date, end: date) -> list[BilledCost]:
    """Provider-billed amounts whose bucket falls on a local day of its org in [start, end)."""
    if not org_ids:
        return []
    with get_engine().connect() as conn:
        zones: dict[str, str] = dict(
            conn.execute(
                text("SELECT id, timezone FROM organization WHERE id IN :orgs").bindparams(
                    bindparam("orgs", expanding=True)
                ),
                {"orgs": list(org_ids)},
            ).all()
        )
        lo = datetime.combine(start - timedelta(days=1), time(), UTC)
        hi = datetime.combine(end + timedelta(days=1), time(), UTC)
        result = (
            conn.execute(
                text(
                    "SELECT org_id, provider, project_id, model, bucket_start, amount_micros FROM billed_cost "
                    "WHERE org_id IN :orgs AND bucket_start >= :lo AND bucket_start < :hi"
                ).bindparams(bindparam("orgs", expanding=True)),
                {"orgs": list(org_ids), "lo": bind_time(conn, lo), "hi": bind_time(conn, hi)},
            )
            .mappings()
            .all()
        )
    out: list[BilledCost] = []
    for rec in result:
        moment = as_utc(_as_datetime(rec["bucket_start"]))
        day = moment.astimezone(ZoneInfo(zones.get(rec["org_id"]) or "UTC")).date()
        if start <= day < end:
            out.append(
                {
                    "org_id": rec["org_id"],
                    "provider": rec["provider"],
                    "project_id": rec["project_id"],
                    "model": rec["model"],
                    "day": day,
                    "amount_usd": Decimal(int(rec["amount_micros"])) * MICRO,
                }
            )
    return out


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _billed_matches(record: BilledCost, filters: Mapping[str, Iterable[str]]) -> bool:
    return all(str(record[BILLED_DIMENSIONS[name]]) in values for name, values in filters.items())


def _billed_key(record: BilledCost, name: str, grain: str) -> object:
    if name in GRAINS:
        return key_value(name, record["day"], None)
    return record[BILLED_DIMENSIONS[name]]


# --- filter choices --------------------------------------------------------------------------


def dimension_values(org_ids: Sequence[str], start: date, end: date) -> dict[str, list[str]]:
    """The values each filterable dimension takes in the period (for the filter pickers)."""
    names = [name for name in DIMENSIONS if name != "org"]
    if not org_ids:
        return {name: [] for name in names}
    # Two reads of month rows, not one per dimension (see _month_values): project, model and provider
    # from rollup_monthly_project, api key and user from their month's pairs (rollup_monthly_keys);
    # days only for a partial month holding a value no other month proved.
    project_columns = [FILTER_COLUMNS[n] for n in names if n not in KEY_NAMES]
    key_columns = [FILTER_COLUMNS[n] for n in names if n in KEY_NAMES]
    found: dict[str, set[str]] = {FILTER_COLUMNS[name]: set() for name in names}
    params = {"orgs": list(org_ids), "s": start, "e": end}
    with get_engine().connect() as conn:
        reads = []
        for months, columns in ((MONTHLY.table, project_columns), (KEY_VALUES, key_columns)):
            proven, parts = _month_values(conn, months, columns, params)
            for values in proven:
                for column, value in zip(columns, values):
                    found[column].add(str(value))
            for lo, hi in parts:
                reads.append((daily_table(columns), columns, {**params, "s": lo, "e": hi}))
        for table, columns, bound in reads:
            listed = ", ".join(columns)
            rows = conn.execute(
                text(
                    f"SELECT {listed} FROM {table} WHERE org_id IN :orgs AND day >= :s AND day < :e GROUP BY {listed}"
                ).bindparams(bindparam("orgs", expanding=True)),
                bound,
            )
            for row in rows:
                for column, value in zip(columns, row):
                    found[column].add(str(value))
    return {name: sorted(found[FILTER_COLUMNS[name]]) for name in names}


def first_seen(org_ids: Sequence[str], dimension: str) -> list[str]:
    """Every value of a project-rollup dimension (org, project, model, provider...) these orgs have
    ever had usage for, first seen first, then by name: an order the period being viewed does not
    change, for giving each value its own chart colour. One grouped read of the month rows; a
    dimension they do not hold (api key, user) gives []."""
    column = FILTER_COLUMNS.get(dimension, "")
    if not org_ids or column not in PROJECT_ROLLUP_KEY:
        return []
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {column}, MIN(day_lo) FROM rollup_monthly_project WHERE org_id IN :orgs GROUP BY {column}"
            ).bindparams(bindparam("orgs", expanding=True)),
            {"orgs": list(org_ids)},
        ).all()
    return [name for _, name in sorted((_as_date(first), str(value)) for value, first in rows)]


def _month_values(
    conn: Connection, table: str, columns: list[str], params: Mapping[str, Any]
) -> tuple[set[tuple[object, ...]], list[tuple[date, date]]]:
    """(value tuples of these columns of a month table (rollup_monthly_project, rollup_monthly_keys)
    with usage in [s, e), the parts of the range whose days must still be read). A month row whose
    days lie inside the range proves its values; a month with rows that do not (a partial month at
    an edge) needs its days read only when one of those rows holds values no other row proved, which
    for a 90-day range is seldom: its values were in use in the whole months too."""
    start, end = params["s"], params["e"]
    listed = ", ".join(columns)
    rows = conn.execute(
        text(
            f"SELECT month, {listed}, MIN(day_lo), MAX(day_hi) FROM {table} "
            f"WHERE org_id IN :orgs AND month >= :m0 AND month < :e GROUP BY month, {listed}"
        ).bindparams(bindparam("orgs", expanding=True)),
        {**params, "m0": month_start(start)},
    ).all()
    proven: set[tuple[object, ...]] = set()
    unproven: dict[date, set[tuple[object, ...]]] = defaultdict(set)
    n = len(columns)
    for row in rows:
        values = tuple(row[1 : 1 + n])
        if start <= _as_date(row[1 + n]) and _as_date(row[2 + n]) < end:
            proven.add(values)
        else:
            unproven[_as_date(row[0])].add(values)
    parts = [
        (max(start, month), min(end, add_months(month, 1)))
        for month, values in sorted(unproven.items())
        if values - proven
    ]
    return proven, parts


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --- exports ---------------------------------------------------------------------------------


def display_frame(
    result: Explore,
    rate: Decimal = Decimal(1),
    labels: Mapping[str, str] | None = None,
    empty: str = "(none)",
    total: str | None = None,
    cents: bool = False,
) -> pd.DataFrame:
    """The table as shown: money in display units (exact Decimal), blank keys named, columns labelled.

    With `total`, a last row holding the column totals (named `total` in the first column); with
    `cents`, money is rounded to the cent first, so an exported total is the sum of its rows."""
    labels = labels or {}
    frame = result.table.copy()
    keys = [c for c in frame.columns if c in DIMENSIONS or c in GRAINS]
    for column in keys:
        frame[column] = [empty if v in ("", None) else str(v) for v in frame[column]]
    money = [c for c in ("cost_usd", "prev_cost_usd", "delta_usd", "billed_usd") if c in frame.columns]
    factor = Decimal(str(rate))
    for column in money:
        # pandas-stubs list no Decimal among a column's scalars; an object column holds it exactly.
        frame[column] = [
            (Decimal(v) * factor).quantize(CENT if cents else MICRO, ROUND_HALF_EVEN) for v in frame[column]
        ]  # type: ignore[assignment]
    if "delta_pct" in frame.columns:
        frame["delta_pct"] = [
            None if v is None or v != v else Decimal(v).quantize(Decimal("0.0001")) for v in frame["delta_pct"]
        ]  # type: ignore[assignment]  # (Decimal, as above)
    if total is not None:
        row: dict[str, Any] = {c: "" for c in keys}  # a frame row: text keys, Decimal money, int counts
        if keys:
            row[keys[0]] = total
        for column in frame.columns:
            if column in money:
                row[column] = sum(frame[column], ZERO)
            elif column in COUNTER_COLUMNS or column in ("unpriced_requests", "unpriced_tokens"):
                row[column] = int(frame[column].sum()) if len(frame) else 0
        if "delta_pct" in frame.columns:
            prev = row.get("prev_cost_usd", ZERO)
            row["delta_pct"] = ((row["cost_usd"] - prev) / prev).quantize(Decimal("0.0001")) if prev else None
        frame = pd.concat([frame, pd.DataFrame([row], columns=frame.columns)], ignore_index=True)
    return frame.rename(columns={c: labels.get(c, c) for c in frame.columns})


def to_csv(frame: pd.DataFrame, percent_columns: Iterable[str] = ()) -> bytes:
    """UTF-8 CSV (with a byte-order mark so spreadsheets read 中文) of exactly these rows and columns:
    money (Decimal) to the cent, ratios in `percent_columns` as percentages (12.5%), counts as integers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralize(str(c)) for c in frame.columns])
    percent = [c in set(percent_columns) for c in frame.columns]
    for row in frame.itertuples(index=False):
        writer.writerow([_csv_value(v, p) for v, p in zip(row, percent)])
    return buffer.getvalue().encode("utf-8-sig")


def _csv_value(value: object, percent: bool = False) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):  # a flag reads as a word people use, not true/false
        return "yes" if value else "no"
    if percent and isinstance(value, Decimal | float | int):
        return f"{Decimal(str(value)) * 100:.1f}%"
    if isinstance(value, Decimal):
        return format(value.quantize(CENT, ROUND_HALF_EVEN), "f")
    if isinstance(value, float):
        return format(Decimal(str(value)).quantize(CENT, ROUND_HALF_EVEN), "f")
    if hasattr(value, "item"):  # numpy integers from pandas
        return value.item()
    return neutralize(value) if isinstance(value, str) else value


MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
COUNT_FORMAT = "#,##0"


def to_excel(
    frame: pd.DataFrame,
    sheet: str = "Spend",
    notes: Sequence[tuple[str, str]] = (),
    percent_columns: Iterable[str] = (),
    more: Sequence[tuple[str, pd.DataFrame]] = (),
) -> bytes:
    """An .xlsx of exactly these rows and columns (plus `more` sheets, and one of what was asked for):
    money (Decimal) as numbers rounded to the cent shown as #,##0.00, `percent_columns` as 0.0%,
    integer counts as #,##0; text cells that look like formulas are quoted and stored as text."""
    # lazy: openpyxl takes 0.2-0.4 s to import and only an Excel download needs it.
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    ws = book.active
    assert isinstance(ws, Worksheet)  # a new workbook's one sheet
    ws.title = _sheet_name(sheet)
    percent = set(percent_columns)
    _fill_sheet(ws, frame, percent)
    for name, extra in more:
        _fill_sheet(book.create_sheet(_sheet_name(name)), extra, percent)
    if notes:
        about = book.create_sheet("About")
        for key, value in notes:
            about.append([neutralize(str(key)), neutralize(str(value))])
        for row in about.iter_rows():
            for cell in row:
                cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _fill_sheet(ws: Any, frame: pd.DataFrame, percent: set[str]) -> None:
    from openpyxl.styles import Font  # lazy: as in to_excel
    from openpyxl.utils import get_column_letter

    ws.append([neutralize(str(c)) for c in frame.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    formats: list[str | None] = []
    for c in frame.columns:
        values = [v for v in frame[c] if v is not None and not (isinstance(v, float) and v != v)]
        if c in percent:
            formats.append(PERCENT_FORMAT)
        elif any(isinstance(v, Decimal) for v in values):
            formats.append(MONEY_FORMAT)
        elif values and all(_is_count(v) for v in values):
            formats.append(COUNT_FORMAT)
        else:
            formats.append(None)
    for row in frame.itertuples(index=False):
        ws.append([_excel_value(v, f) for v, f in zip(row, formats)])
    for cells in ws.iter_rows(min_row=2):
        for cell, number_format in zip(cells, formats):
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never a formula, whatever it starts with
            elif number_format and cell.value is not None:
                cell.number_format = number_format
    for i, column in enumerate(frame.columns, start=1):
        width = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)])
        ws.column_dimensions[get_column_letter(i)].width = min(48, max(10, width + 2))
    ws.freeze_panes = "A2"


def _is_count(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _excel_value(value: object, number_format: str | None = None) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item"):  # numpy scalars from pandas
        value = value.item()
    if number_format == MONEY_FORMAT and isinstance(value, Decimal | float):
        return float(Decimal(str(value)).quantize(CENT, ROUND_HALF_EVEN))  # the cent, not 17 digits
    if number_format == PERCENT_FORMAT and isinstance(value, Decimal | float):
        return float(Decimal(str(value)).quantize(Decimal("0.000001")))
    if number_format == COUNT_FORMAT and isinstance(value, float | Decimal):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        return neutralize(value)
    return value


def _sheet_name(name: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'") or "Sheet"
    return cleaned[:31]

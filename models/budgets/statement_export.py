"""A statement as spreadsheet tables: the page's columns and names, money to the cent, a total row.

The Statement page's downloads and the monthly email's attachment are both built here, so they say
the same thing: money in the display currency at the month's rate, rounded to the cent, with a
stated total that is the sum of its rows; shares and changes as ratios the writer shows as 0.0%;
the tokens with no price in a column of their own, as the explorer's downloads have them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd

from models.budgets.statement import FRAMES, Statement
from models.spend.explore import CENT, to_csv, to_excel
from models.units import ZERO

COUNTS = ("requests", "input_tokens", "output_tokens", "unpriced_tokens")
MONEY = ("cost_usd", "prev_cost_usd")
RATIOS = ("delta_pct", "share")


def table(s: Statement, name: str, labels: Mapping[str, str], rate: Decimal, empty: str, total: str) -> pd.DataFrame:
    """One of the statement's tables with a total row: money in display units to the cent."""
    columns = FRAMES[name]
    source = getattr(s, name)
    rows: list[dict[str, object]] = []
    for record in source.to_dict("records"):
        row: dict[str, object] = {}
        for c in columns:
            value = record.get(c)
            if c in MONEY:
                row[c] = _cents(value, rate)
            elif c in COUNTS:
                row[c] = int(value or 0)
            elif c in RATIOS:
                row[c] = None if value is None or value != value else Decimal(str(value))
            else:
                row[c] = empty if value in ("", None) else str(value)
        rows.append(row)
    sums: dict[str, object] = {c: "" for c in columns}
    sums[columns[0]] = total
    for c in columns:
        if c in MONEY:
            sums[c] = sum((_decimal(r[c]) for r in rows), ZERO)
        elif c in COUNTS:
            sums[c] = int(sum((_decimal(r[c]) for r in rows), ZERO))
        elif c in RATIOS:
            sums[c] = None
    if "share" in columns:
        sums["share"] = Decimal(1) if rows and s.total else None
    if "delta_pct" in columns:
        prev, cost = sums["prev_cost_usd"], sums["cost_usd"]
        assert isinstance(prev, Decimal) and isinstance(cost, Decimal)
        sums["delta_pct"] = ((cost - prev) / prev).quantize(Decimal("0.0001")) if prev else None
    frame = pd.DataFrame([*rows, sums], columns=list(columns))
    return frame.rename(columns={c: labels.get(c, c) for c in columns})


def _decimal(value: object) -> Decimal:
    return Decimal(str(value))


def _cents(value: object, rate: Decimal) -> Decimal:
    if value is None or (isinstance(value, float) and value != value):
        return ZERO.quantize(CENT)
    return (Decimal(str(value)) * rate).quantize(CENT, ROUND_HALF_EVEN)


def percent_labels(labels: Mapping[str, str]) -> list[str]:
    return [labels.get(c, c) for c in RATIOS]


def statement_csv(s: Statement, labels: Mapping[str, str], rate: Decimal, empty: str, total: str) -> bytes:
    """The detail table (project x model), as the page's CSV download."""
    return to_csv(table(s, "by_project_model", labels, rate, empty, total), percent_labels(labels))


def statement_xlsx(
    s: Statement,
    labels: Mapping[str, str],
    rate: Decimal,
    empty: str,
    total: str,
    sheets: Mapping[str, str],
    notes: Sequence[tuple[str, str]] = (),
) -> bytes:
    """By project, by model and the detail, one sheet each (`sheets` names them), plus the notes."""
    frames = [(sheets[name], table(s, name, labels, rate, empty, total)) for name in FRAMES]
    (first_name, first), *more = frames
    return to_excel(first, first_name, notes, percent_labels(labels), more)

"""Month-end spend forecast: p10/p50/p90 of the month total and when the soft/hard limit is crossed.

The method lives in models/budgets/forecast_ensemble.py: candidate methods (run-rate, a step-aware level,
the trend model, TSB for sparse spend, the month's usual pickup) weighed by how each did on this
series' own earlier months at the same day of the month, with p10/p90 from those months' errors
(conformal). This module turns that into a month: spent so far, the total's quantiles and a
cumulative fan to month end. docs/forecast.md has the evidence against the naive run-rate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import text

from models.access.orgs import get_org
from models.budgets import billing
from models.budgets.forecast_ensemble import DEFAULT_TUNING, HISTORY_DAYS, METHODS, Tuning, evaluate, history
from models.budgets.forecast_track import READ_DAYS, track_record
from models.budgets.limits import Limit, get_limit, limits
from models.db import get_engine, session_scope
from models.pricing.catalog import Catalog, get_catalog
from models.tables import USAGE_COUNTERS
from models.units import MICRO
from models.validation import validate_project

FETCH_DAYS = 520  # what scope forecasts read from the database (models.forecast_ensemble.HISTORY_DAYS)
CENT = Decimal("0.01")

Params = Tuning  # the name callers (models.backtest) use
DEFAULT = DEFAULT_TUNING


@dataclass
class MonthForecast:
    """The month of `as_of`: spent so far, the distribution of the total, and cumulative paths."""

    month: str  # YYYY-MM
    as_of: date
    spent: Decimal  # month start through as_of (what is recorded so far)
    p10: Decimal
    p50: Decimal
    p90: Decimal
    days: list[date] = field(default_factory=list)  # every day of the month
    actual_cum: list[Decimal | None] = field(default_factory=list)  # recorded, through as_of
    cum_p10: list[Decimal | None] = field(default_factory=list)  # projected, from as_of on
    cum_p50: list[Decimal | None] = field(default_factory=list)
    cum_p90: list[Decimal | None] = field(default_factory=list)
    history_days: int = 0
    weights: dict[str, float] = field(default_factory=dict)  # how much each candidate counted

    def cross_date(self, limit: Decimal | None) -> date | None:
        """The day cumulative spend reached `limit`, or is projected (p50) to; None if not this month."""
        if limit is None:
            return None
        for day, actual, projected in zip(self.days, self.actual_cum, self.cum_p50):
            values = [v for v in (actual, projected) if v is not None]
            if values and max(values) >= limit:
                return day
        return None


def _dec(x: float, quantum: Decimal = MICRO) -> Decimal:
    return Decimal(repr(float(x))).quantize(quantum)


def forecast_month(
    daily: Mapping[date, Decimal | float], as_of: date, today_fraction: float | None = None, params: Params = DEFAULT
) -> MonthForecast:
    """Forecast the month of `as_of` from daily spend (days without an entry count as zero).

    `as_of` is complete unless `today_fraction` says how much of it has passed (the live case):
    then the model reads the days before it and expects the rest of that day too. Days after
    `as_of` are never read.
    """
    month_start = as_of.replace(day=1)
    history_end = as_of if today_fraction is None else as_of - timedelta(days=1)
    start, values = history(daily, history_end)
    actual = [Decimal(daily.get(month_start + timedelta(days=i), 0)) for i in range(as_of.day)]
    return _forecast_month(start, values, actual, as_of, today_fraction, params)


def _forecast_month(
    start: date, values: np.ndarray, actual: list[Decimal], as_of: date, today_fraction: float | None, params: Params
) -> MonthForecast:
    """`forecast_month` from what it reads: the model's days (`history`: `values` from `start`) and
    the month's recorded spend through `as_of` (`actual`, one Decimal a day from the 1st)."""
    month_start = as_of.replace(day=1)
    last = billing.month_end(as_of)
    history_end = as_of if today_fraction is None else as_of - timedelta(days=1)
    month_days = [month_start + timedelta(days=i) for i in range((last - month_start).days + 1)]
    spent = sum(actual, Decimal(0))
    horizon = (last - history_end).days
    done = (history_end - month_start).days + 1  # complete days of this month seen (0 on the 1st, live)
    out = MonthForecast(
        month=billing.month_label(as_of.year, as_of.month),
        as_of=as_of,
        spent=spent,
        p10=spent,
        p50=spent,
        p90=spent,
        days=month_days,
        history_days=len(values),
    )
    paths = np.zeros((3, horizon))
    if horizon and len(values):
        row = evaluate(values, start, (done,), current=True, tuning=params)[done]
        if row.months[-1] != month_start or not np.isnan(row.actual[-1]):
            raise RuntimeError(f"forecast of {month_start:%Y-%m}: the model returned {row.months[-1]:%Y-%m}")
        seen = float(sum(actual[:done], Decimal(0)))  # what the model counted as month-to-date
        shape = row.weekday[np.arange(horizon) % 7]
        if today_fraction is not None:
            shape[0] *= max(0.0, 1.0 - today_fraction)  # what is still to come of today
            rest_share = shape.sum() / max(row.weekday[np.arange(horizon) % 7].sum(), 1e-12)
        else:
            rest_share = 1.0
        cum_shape = np.cumsum(shape) / max(shape.sum(), 1e-12)
        for i, q in enumerate((row.p10[-1], row.p50[-1], row.p90[-1])):
            paths[i] = max(q - seen, 0.0) * rest_share * cum_shape
        out.weights = {m: round(float(w), 3) for m, w in zip(METHODS, row.weights[-1]) if w > 0}
    out.history_days = len(values)
    running = Decimal(0)
    offset = len(month_days) - horizon  # index of the first projected day
    for i, day in enumerate(month_days):
        if day <= as_of:
            running += actual[i]
            out.actual_cum.append(running)
        else:
            out.actual_cum.append(None)
        k = i - offset
        if k >= 0:
            out.cum_p10.append(spent + _dec(paths[0, k]))
            out.cum_p50.append(spent + _dec(paths[1, k]))
            out.cum_p90.append(spent + _dec(paths[2, k]))
        elif k == -1 and horizon:
            start_value = out.actual_cum[i]  # the fan starts where the recorded line ends
            out.cum_p10.append(start_value)
            out.cum_p50.append(start_value)
            out.cum_p90.append(start_value)
        else:
            out.cum_p10.append(None)
            out.cum_p50.append(None)
            out.cum_p90.append(None)
    if horizon:
        p10, p50, p90 = out.cum_p10[-1], out.cum_p50[-1], out.cum_p90[-1]
        assert p10 is not None and p50 is not None and p90 is not None  # a projected day ends the month
        out.p10, out.p50, out.p90 = p10, p50, p90
    return out


# --- an org (or one of its projects) ----------------------------------------------------------


@dataclass
class ScopeForecast:
    org_id: str
    project: str | None
    timezone: str
    forecast: MonthForecast
    soft_limit: Decimal | None
    hard_limit: Decimal | None
    soft_cross: date | None
    hard_cross: date | None
    today_fraction: float | None = None

    def track_record(self) -> dict[str, Any]:
        """How the forecast did on this scope's past months (models/budgets/forecast_track.py). Read and
        computed on first use only: the alert pass never needs it."""
        as_of = self.forecast.as_of
        daily = billing.daily_spend(
            self.org_id, as_of.replace(day=1) - timedelta(days=READ_DAYS), as_of.replace(day=1), self.project
        )
        return track_record(daily, as_of, self.today_fraction)

    @property
    def p10(self) -> Decimal:
        return self.forecast.p10

    @property
    def p50(self) -> Decimal:
        return self.forecast.p50

    @property
    def p90(self) -> Decimal:
        return self.forecast.p90

    @property
    def spent(self) -> Decimal:
        return self.forecast.spent

    def as_json(self) -> dict[str, Any]:
        """The `spendsight forecast --format json` contract, keys in this order."""
        return {
            "org": self.org_id,
            "month": self.forecast.month,
            "as_of": self.forecast.as_of.isoformat(),
            "spent_usd": float(self.spent.quantize(MICRO)),
            "p10_usd": float(self.p10.quantize(CENT)),
            "p50_usd": float(self.p50.quantize(CENT)),
            "p90_usd": float(self.p90.quantize(CENT)),
            "soft_limit_usd": None if self.soft_limit is None else float(self.soft_limit),
            "hard_limit_usd": None if self.hard_limit is None else float(self.hard_limit),
            "soft_cross_date": self.soft_cross.isoformat() if self.soft_cross else None,
            "hard_cross_date": self.hard_cross.isoformat() if self.hard_cross else None,
            "track_record": self.track_record(),
        }


# What the cached days depend on: the database, the price catalog, and the days' row count and counter sums.
HistoryStamp = tuple[object, ...]
# (org, project, month) -> (stamp, daily spend before the month)
_HISTORY: OrderedDict[tuple[str, str | None, date], tuple[HistoryStamp, dict[date, float]]] = OrderedDict()


def _history_stamp(org_id: str, project: str | None, start: date, end: date) -> HistoryStamp:
    """What the cached days depend on: the price catalog and the rolled-up counters of those days
    (one aggregate in the database, far cheaper than pricing 500 days of rows)."""
    where = "org_id = :org AND day >= :start AND day < :end" + ("" if project is None else " AND project_id = :project")
    sql = f"SELECT COUNT(*), {', '.join(f'SUM({c})' for c in USAGE_COUNTERS)} FROM rollup_daily_project WHERE {where}"
    engine = get_engine()
    with engine.connect() as conn:
        row = conn.execute(text(sql), {"org": org_id, "start": start, "end": end, "project": project}).one()
    return (str(engine.url), get_catalog().fingerprint, *(int(v or 0) for v in row))


def _priced_days(org_id: str, project: str | None, start: date, end: date) -> tuple[dict[date, float], HistoryStamp]:
    """Daily spend in USD as floats (the model's input; money shown to people comes from
    billing.daily_spend), priced like models.spend but one matrix product per price instead of a
    Python loop over every row; and the same days' counter sums (what `_history_stamp` checks)."""
    columns = ("day", "provider", "model", "service_tier", "batch", "context_band", "price_date")
    where = "org_id = :org AND day >= :start AND day < :end" + ("" if project is None else " AND project_id = :project")
    sql = f"SELECT {', '.join(columns)}, {', '.join(USAGE_COUNTERS)} FROM rollup_daily_project WHERE {where}"
    with get_engine().connect() as conn:
        rows = conn.execute(text(sql), {"org": org_id, "start": start, "end": end, "project": project}).all()
    counts = np.array([r[7:] for r in rows], dtype=float).reshape(len(rows), len(USAGE_COUNTERS))
    counts = np.nan_to_num(counts)
    stamp = (str(get_engine().url), get_catalog().fingerprint, len(rows), *(int(x) for x in counts.sum(0)))
    if not rows:
        return {}, stamp
    catalog = get_catalog()
    keys: dict[tuple[Any, ...], int] = {}  # (provider, model, tier, batch, band, price_date): database values
    key_of = np.array([keys.setdefault(tuple(r[1:7]), len(keys)) for r in rows])
    rates = np.zeros((len(keys), len(USAGE_COUNTERS)))
    for (provider, model, tier, batch, band, price_date), i in keys.items():
        price = catalog.resolve(provider, model, _as_day(price_date), tier, bool(batch), int(band or 0))
        for counter, usd in price.coefficients.items() if price is not None else ():
            rates[i, USAGE_COUNTERS.index(counter)] = float(usd)
    cost = (counts * rates[key_of]).sum(1)
    out: dict[date, float] = {}
    for row, usd in zip(rows, cost):
        day = _as_day(row[0])
        out[day] = out.get(day, 0.0) + float(usd)
    return out, stamp


def _as_day(value: object) -> date:
    return (
        value
        if isinstance(value, date) and not isinstance(value, datetime)
        else (value.date() if isinstance(value, datetime) else date.fromisoformat(str(value)[:10]))
    )


def _history_before(org_id: str, project: str | None, month_start: date) -> dict[date, float]:
    """Daily spend of the FETCH_DAYS before `month_start`, cached per scope and month.

    Pricing 500 days of rollup rows through models.spend costs several times the forecast itself,
    and those days rarely change while the month goes on (the month in progress is always read
    afresh). The cache is used only while the days' counters and the price catalog are what they
    were: a backfill or a price edit is seen on the next pass.
    """
    start = month_start - timedelta(days=FETCH_DAYS)
    key = (org_id, project, month_start)
    hit = _HISTORY.get(key)
    if hit is not None and hit[0] == _history_stamp(org_id, project, start, month_start):
        _HISTORY.move_to_end(key)
        return dict(hit[1])
    daily, stamp = _priced_days(org_id, project, start, month_start)  # a cold read stamps from its own rows
    _HISTORY[key] = (stamp, daily)
    _HISTORY.move_to_end(key)
    while len(_HISTORY) > 4096:
        _HISTORY.popitem(last=False)
    return daily


def forecast_scope(
    org_id: str, project: str | None = None, as_of: date | None = None, now: datetime | None = None
) -> ScopeForecast:
    """The month-end forecast of an org (or one project) against its limits.

    Without `as_of` the month is the current one in the org's time zone and today counts as partly
    over; with it, `as_of` is taken as a complete day (what a backtest or a look back needs).
    """
    project = validate_project(project) or None  # (as get_limit below would, before any query uses it)
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    fraction = None
    if as_of is None:
        now = now or datetime.now(UTC)
        as_of = billing.local_today(timezone, now)
        fraction = billing.fraction_of_day_elapsed(timezone, now)
    month_start = as_of.replace(day=1)
    daily = _history_before(org_id, project, month_start) | billing.daily_spend(
        org_id, month_start, as_of + timedelta(days=1), project
    )
    result = forecast_month(daily, as_of, fraction)
    limit = get_limit(org_id, project)
    soft = limit.soft_usd if limit else None
    hard = limit.hard_usd if limit else None
    return ScopeForecast(
        org_id, project, timezone, result, soft, hard, result.cross_date(soft), result.cross_date(hard), fraction
    )


# --- every scope of one org at once (the alert pass) -----------------------------------------
# The alert pass forecasts each limit of an org: the org's and its projects'. Read per scope, that is
# two or three queries per series and pricing the same rows once per scope; here it is one aggregate
# (are the cached days still what they were?), at most one read of the org's history, one read of the
# month in progress and one of its limits, whatever the number of scopes.

# Per project, the daily spend of the FETCH_DAYS before the month, one float a day (0.0: no usage),
# in the order the projects first appear in the org's rows (the order the org's total adds them in).
ProjectDays = dict[str, np.ndarray]
OrgHistory = tuple[dict[str, HistoryStamp], ProjectDays]  # per project: stamp; and the days
_ORG_HISTORY: OrderedDict[tuple[str, date], OrgHistory] = OrderedDict()


def _org_stamps(org_id: str, start: date, end: date) -> dict[str, HistoryStamp]:
    """Per project: the rolled-up counters of the days (what its cached history depends on)."""
    sums = ", ".join(f"SUM({c})" for c in USAGE_COUNTERS)
    sql = (
        f"SELECT project_id, COUNT(*), {sums} FROM rollup_daily_project "
        "WHERE org_id = :org AND day >= :start AND day < :end GROUP BY project_id"
    )
    engine = get_engine()
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"org": org_id, "start": start, "end": end}).all()
    base = (str(engine.url), get_catalog().fingerprint)
    return {str(r[0]): (*base, *(int(v or 0) for v in r[1:])) for r in rows}


def _codes(values: tuple[Any, ...]) -> tuple[np.ndarray, list[Any]]:
    """Each value's position among the distinct values, and those values in order of first appearance."""
    distinct = list(dict.fromkeys(values))
    position = {v: i for i, v in enumerate(distinct)}
    return np.fromiter(map(position.__getitem__, values), dtype=np.intp, count=len(values)), distinct


def _org_priced_days(org_id: str, start: date, end: date) -> OrgHistory:
    """Daily spend per project, priced as `_priced_days` does, from one read of the org's rows; and
    the stamps `_org_stamps` gives for the same rows (counted here, not asked for again).

    Column-wise with numpy rather than a loop over the rows (an org's rows are thousands): the cost
    of a row is the same product as before, and a day's rows are added in the order they were read
    (np.add.at is unbuffered and in order), so every figure is the float the loop gave.
    """
    columns = ("project_id", "day", "provider", "model", "service_tier", "batch", "context_band", "price_date")
    sql = (
        f"SELECT {', '.join(columns)}, {', '.join(USAGE_COUNTERS)} FROM rollup_daily_project "
        "WHERE org_id = :org AND day >= :start AND day < :end"
    )
    engine = get_engine()
    with engine.connect() as conn:
        result = conn.execute(text(sql), {"org": org_id, "start": start, "end": end})
        # The driver's own tuples: SQLAlchemy's Row objects cost a third more to make and to transpose,
        # and a text() query has no result processing to lose.
        rows = result.cursor.fetchall() if result.cursor is not None else []
        result.close()
    catalog = get_catalog()
    base = (str(engine.url), catalog.fingerprint)
    if not rows:
        return {}, {}
    n, width = len(columns), len(USAGE_COUNTERS)
    cols = list(zip(*rows))
    project_of, projects = _codes(cols[0])
    counters = np.array(cols[n:], dtype=np.int64).T.reshape(len(rows), width)  # exact, for the stamps
    counts = counters.astype(float)  # (the columns are NOT NULL integers: the floats np.array made of them)
    key_of, keys = _codes(tuple(zip(*cols[2:n])))
    rates = np.array([_rates(catalog, k) for k in keys]).reshape(len(keys), width)
    cost = (counts * rates[key_of]).sum(1)
    day_of, raw_days = _codes(cols[1])
    offset = np.array([(_as_day(d) - start).days for d in raw_days], dtype=np.intp)[day_of]
    days = np.zeros((len(projects), (end - start).days))
    np.add.at(days, (project_of, offset), cost)
    rows_of = np.bincount(project_of, minlength=len(projects))
    sums = np.zeros((len(projects), width), dtype=np.int64)
    np.add.at(sums, project_of, counters)
    stamps = {str(p): (*base, int(rows_of[i]), *(int(v) for v in sums[i])) for i, p in enumerate(projects)}
    return stamps, {str(p): days[i] for i, p in enumerate(projects)}


# (catalog fingerprint, provider, model, tier, batch, band, price date) -> USD per unit of each counter.
# Every org's rows carry one price date per day, so without this each org resolves the same few
# hundred (model, day) prices again; the fingerprint keys it to the catalog in force.
_RATES: dict[tuple[Any, ...], list[float]] = {}


def _rates(catalog: Catalog, key: tuple[Any, ...]) -> list[float]:
    full = (catalog.fingerprint, *key)
    hit = _RATES.get(full)
    if hit is None:
        provider, model, tier, batch, band, price_date = key
        price = catalog.resolve(provider, model, _as_day(price_date), tier, bool(batch), int(band or 0))
        hit = [0.0] * len(USAGE_COUNTERS)
        for counter, usd in price.coefficients.items() if price is not None else ():
            hit[USAGE_COUNTERS.index(counter)] = float(usd)
        if len(_RATES) > 100_000:
            _RATES.clear()
        _RATES[full] = hit
    return hit


def _org_history(org_id: str, month_start: date) -> ProjectDays:
    """Per project, the daily spend of the FETCH_DAYS before `month_start`; cached per org and month
    while every project's counters and the catalog are unchanged (one aggregate query checks; a
    cold read stamps from its own rows, so it costs no aggregate)."""
    start = month_start - timedelta(days=FETCH_DAYS)
    key = (org_id, month_start)
    hit = _ORG_HISTORY.get(key)
    if hit is not None and hit[0] == _org_stamps(org_id, start, month_start):
        _ORG_HISTORY.move_to_end(key)
        return hit[1]
    _ORG_HISTORY[key] = _org_priced_days(org_id, start, month_start)
    _ORG_HISTORY.move_to_end(key)
    while len(_ORG_HISTORY) > 1024:
        _ORG_HISTORY.popitem(last=False)
    return _ORG_HISTORY[key][1]


def _scope_history(
    past: np.ndarray, month: Mapping[date, Decimal], as_of: date
) -> tuple[date, np.ndarray, list[Decimal]]:
    """What the live `forecast_month` reads from {**past days, **month days}, without building that
    mapping: the model's days as `history` gives them (start, values) and the month's recorded spend.

    `past`: one float a day for the FETCH_DAYS before the month; `month`: its days through `as_of`.
    """
    month_start = as_of.replace(day=1)
    actual = [month.get(month_start + timedelta(days=i), Decimal(0)) for i in range(as_of.day)]
    seen = actual[:-1]  # today is partly over: the model reads through yesterday
    values = np.concatenate([past, np.array([float(v) for v in seen], dtype=float)])
    spending = np.flatnonzero(past != 0)
    first = int(spending[0]) if len(spending) else next((len(past) + i for i, v in enumerate(seen) if v), len(values))
    at = max(len(values) - HISTORY_DAYS, first)  # from the first day with spend, at most HISTORY_DAYS back
    return as_of - timedelta(days=len(values) - at), values[at:], actual


def forecast_org_scopes(
    org_id: str, projects: list[str | None], now: datetime | None = None, org_limits: list[Limit] | None = None
) -> dict[str | None, ScopeForecast]:
    """`forecast_scope(org_id, p, now=now)` for each p in `projects` (None: the whole org), reading the
    database once per kind instead of once per scope (`org_limits`: the org's limits, if already read)."""
    with session_scope() as session:
        timezone = get_org(session, org_id).timezone
    now = now or datetime.now(UTC)
    as_of = billing.local_today(timezone, now)
    fraction = billing.fraction_of_day_elapsed(timezone, now)
    month_start = as_of.replace(day=1)
    history = _org_history(org_id, month_start)
    month = billing.daily_spend_by_project(org_id, month_start, as_of + timedelta(days=1))
    scope_limits = {limit.project_id: limit for limit in (limits(org_id) if org_limits is None else org_limits)}
    out: dict[str | None, ScopeForecast] = {}
    for project in projects:
        if project is None:
            past = np.zeros(FETCH_DAYS)
            for days in history.values():
                past = past + days  # project by project, in the order they were read (the order of the floats' sums)
            current: dict[date, Decimal] = {}
            for days_d in month.values():
                for day, cost in days_d.items():
                    current[day] = current.get(day, Decimal(0)) + cost
        else:
            past, current = history.get(project, np.zeros(FETCH_DAYS)), month.get(project, {})
        start, values, actual = _scope_history(past, current, as_of)
        result = _forecast_month(start, values, actual, as_of, fraction, DEFAULT)
        limit = scope_limits.get(project or "")
        soft = limit.soft_usd if limit else None
        hard = limit.hard_usd if limit else None
        out[project] = ScopeForecast(
            org_id, project, timezone, result, soft, hard, result.cross_date(soft), result.cross_date(hard), fraction
        )
    return out

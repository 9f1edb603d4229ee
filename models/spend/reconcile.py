"""Reconciliation: our estimate (token counts x catalog) next to what the provider billed, per UTC day and project.

Providers bill per UTC day, so both sides are cut by UTC date: estimates come from the daily rollup's
`price_date` (the UTC date the usage happened on), billed amounts from `billed_cost`. Only the
providers the org collects costs for (a source, or billed rows in the range) are compared.
`drift_pct` = (estimated - billed) / billed x 100: positive when we estimate more than was billed;
empty when nothing was billed that day for that project.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import Connection, bindparam, text

from models.db import UTCDateTime, bind_time, get_engine
from models.pricing.catalog import Catalog, get_catalog
from models.tables import USAGE_COUNTERS
from models.units import MICRO

RECONCILE_COLUMNS = ("day", "provider", "project", "estimated_usd", "billed_usd", "drift_pct")
PCT = Decimal("0.01")
CENT = Decimal("0.01")


class ReconcileRow(TypedDict):
    day: str  # ISO date, UTC
    provider: str
    project: str
    estimated_usd: Decimal
    billed_usd: Decimal
    drift_pct: Decimal | None


class ReconcileTotals(TypedDict):
    estimated_usd: Decimal
    billed_usd: Decimal
    drift_pct: Decimal | None


class DayAmounts(TypedDict):
    day: str
    estimated_usd: Decimal
    billed_usd: Decimal


def drift_pct(estimated: Decimal, billed: Decimal) -> Decimal | None:
    if not billed:
        return None
    return ((estimated - billed) / billed * 100).quantize(PCT)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _providers(conn: Connection, org_id: str) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT DISTINCT provider FROM source WHERE org_id = :org "
            "UNION SELECT DISTINCT provider FROM billed_cost WHERE org_id = :org"
        ),
        {"org": org_id},
    ).all()
    return sorted(r[0] for r in rows)


def _load(
    conn: Connection, org_id: str, start: date, end: date, providers: Sequence[str], by_model: bool = False
) -> tuple[Sequence[Any], Sequence[Any]]:
    """Usage rollups and bills for UTC days [start, end); bills per model/tier/line item if by_model."""
    sums = ", ".join(f"SUM({c}) AS {c}" for c in USAGE_COUNTERS)
    usage = (
        conn.execute(
            text(
                f"SELECT price_date, provider, project_id, model, service_tier, batch, context_band, {sums} "
                "FROM rollup_daily WHERE org_id = :org AND price_date >= :start AND price_date < :end "
                "AND provider IN :providers "
                "GROUP BY price_date, provider, project_id, model, service_tier, batch, context_band"
            ).bindparams(bindparam("providers", expanding=True)),
            {"org": org_id, "start": start, "end": end, "providers": list(providers)},
        )
        .mappings()
        .all()
    )
    detail = ", model, service_tier, line_item" if by_model else ""
    bills = conn.execute(
        text(
            f"SELECT bucket_start, provider, project_id{detail}, SUM(amount_micros) AS micros FROM billed_cost "
            "WHERE org_id = :org AND currency = 'USD' AND bucket_start >= :a AND bucket_start < :b "
            f"GROUP BY bucket_start, provider, project_id{detail}"
        ).columns(bucket_start=UTCDateTime()),
        {
            "org": org_id,
            "a": bind_time(conn, datetime.combine(start, time(), UTC)),
            "b": bind_time(conn, datetime.combine(end, time(), UTC)),
        },
    ).all()
    return usage, bills


def reconcile(org_id: str, start: date, end: date, catalog: Catalog | None = None) -> list[ReconcileRow]:
    """Rows of RECONCILE_COLUMNS for UTC days [start, end); amounts are Decimal USD."""
    catalog = catalog or get_catalog()
    est: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    billed: dict[tuple[date, str, str], Decimal] = defaultdict(Decimal)
    with get_engine().connect() as conn:
        providers = _providers(conn, org_id)
        if not providers:
            return []
        usage, bills = _load(conn, org_id, start, end, providers)
    for rec in usage:
        day = _day(rec["price_date"])
        price = catalog.resolve(
            rec["provider"], rec["model"], day, rec["service_tier"], bool(rec["batch"]), int(rec["context_band"] or 0)
        )
        key = (day, rec["provider"], rec["project_id"])
        est[key] += price.cost({c: int(rec[c] or 0) for c in USAGE_COUNTERS}) if price is not None else Decimal(0)
    for bucket_start, provider, project, micros in bills:
        billed[(bucket_start.date(), provider, project)] += Decimal(int(micros or 0)) * MICRO
    out: list[ReconcileRow] = []
    for key in sorted(set(est) | set(billed)):
        e, b = est.get(key, Decimal(0)).quantize(MICRO), billed.get(key, Decimal(0)).quantize(MICRO)
        out.append(
            {
                "day": key[0].isoformat(),
                "provider": key[1],
                "project": key[2],
                "estimated_usd": e,
                "billed_usd": b,
                "drift_pct": drift_pct(e, b),
            }
        )
    return out


def totals(rows: Sequence[ReconcileRow]) -> ReconcileTotals:
    """Estimated, billed and drift over the rows (for a page's headline numbers)."""
    e = sum((r["estimated_usd"] for r in rows), Decimal(0))
    b = sum((r["billed_usd"] for r in rows), Decimal(0))
    return {"estimated_usd": e, "billed_usd": b, "drift_pct": drift_pct(e, b)}


def by_day(rows: Sequence[ReconcileRow]) -> list[DayAmounts]:
    """Estimated and billed summed per day (for a chart), in day order."""
    days: dict[str, list[Decimal]] = {}
    for r in rows:
        acc = days.setdefault(r["day"], [Decimal(0), Decimal(0)])
        acc[0] += r["estimated_usd"]
        acc[1] += r["billed_usd"]
    return [{"day": d, "estimated_usd": e, "billed_usd": b} for d, (e, b) in sorted(days.items())]


# --- why they differ ---------------------------------------------------------------------------
#
# A gap (estimated - billed) for a day and project is split into named causes where the data shows
# them. Bills that name a model (Anthropic's `model`, OpenAI's line item "gpt-4o-2024-08-06, input")
# are compared model by model; bills without one are compared for the project as a whole. Each
# cause is a what-if: price our usage the way the bill suggests and see how much of the gap closes.

CAUSES = ("not_billed", "unpriced", "cache_ttl", "tier", "batch", "price_change", "other")
FIT = Decimal("0.25")  # a what-if explains a gap when it leaves at most a quarter of it
STEADY = Decimal("0.02")  # bill/estimate ratios within 2% of each other are one price
TOKEN_COUNTERS = ("input_tokens", "output_tokens")


class Cause(TypedDict):
    day: str
    provider: str
    project: str
    cause: str  # one of CAUSES
    model: str  # "" when the cause is not about one model
    amount_usd: Decimal  # the part of (estimated - billed) this cause accounts for
    share_pct: Decimal | None  # amount / the day-and-project gap x 100
    tokens: int  # unpriced: the tokens that had no price
    tier: str  # tier: the tier the bill names; cache_ttl: "1h" or "5m", the TTL the bill fits
    since: str  # price_change: the first day billed at the new price ("" when before the range)
    change_pct: Decimal | None  # price_change: billed / estimated - 1, x 100
    gap_usd: Decimal  # the whole day-and-project gap, estimated - billed


class DayCause(TypedDict):
    day: str
    gap_usd: Decimal
    cause: str
    model: str
    provider: str
    share_pct: Decimal | None
    tokens: int
    tier: str
    since: str
    change_pct: Decimal | None


@dataclass
class _Use:
    model: str
    tier: str
    batch: bool
    band: int
    counts: dict[str, int]


@dataclass
class _Bucket:
    """Usage and bill that can be compared: one model's, or a project's when bills name no model."""

    model: str
    uses: list[_Use] = field(default_factory=list)
    billed: Decimal = Decimal(0)
    bill_tiers: set[str] = field(default_factory=set)
    bill_batch: bool = False


def _bill_model(model: str, line_item: str) -> str:
    if model:
        return model
    head = line_item.split(",")[0].strip()  # OpenAI: "gpt-4o-2024-08-06, input"
    return head if head and " " not in head else ""


def _match(bill_model: str, usage_models: Sequence[str]) -> str:
    """The usage model a billed model is: itself, or the alias its dated snapshot belongs to."""
    if bill_model in usage_models:
        return bill_model
    fits = [m for m in usage_models if bill_model.startswith(m + "-")]
    return max(fits, key=len) if fits else bill_model


def _cost(catalog: Catalog, provider: str, day: date, use: _Use, **change: Any) -> Decimal | None:
    tier, batch = change.get("tier", use.tier), change.get("batch", use.batch)
    price = catalog.resolve(provider, use.model, day, tier, batch, use.band)
    if price is None:
        return None
    counts = dict(use.counts)
    if "ttl" in change:
        counts["cache_write_1h_tokens"] = counts.get("cache_write_tokens", 0) if change["ttl"] == "1h" else 0
    return price.cost(counts)


def _estimate(catalog: Catalog, provider: str, day: date, uses: Sequence[_Use], **change: Any) -> Decimal:
    return sum((_cost(catalog, provider, day, u, **change) or Decimal(0) for u in uses), Decimal(0))


def _what_ifs(catalog: Catalog, provider: str, day: date, bucket: _Bucket) -> list[tuple[str, str, Decimal]]:
    """(cause, detail, estimate) for each way of pricing the bucket that the data gives reason to try."""
    priced = [u for u in bucket.uses if _cost(catalog, provider, day, u) is not None]
    out: list[tuple[str, str, Decimal]] = []
    if any(u.counts.get("cache_write_tokens") for u in priced):
        for ttl in ("1h", "5m"):
            out.append(("cache_ttl", ttl, _estimate(catalog, provider, day, priced, ttl=ttl)))
    for tier in sorted(bucket.bill_tiers - {u.tier for u in priced}):
        out.append(("tier", tier, _estimate(catalog, provider, day, priced, tier=tier)))
    if bucket.bill_batch and not all(u.batch for u in priced):
        out.append(("batch", "", _estimate(catalog, provider, day, priced, batch=True)))
    return out


def _cause(day: date, provider: str, project: str, cause: str, model: str, amount: Decimal, **extra: Any) -> Cause:
    row: Cause = {
        "day": day.isoformat(),
        "provider": provider,
        "project": project,
        "cause": cause,
        "model": model,
        "amount_usd": amount.quantize(MICRO),
        "share_pct": None,
        "tokens": 0,
        "tier": "",
        "since": "",
        "change_pct": None,
        "gap_usd": Decimal(0),
    }
    row.update(extra)  # type: ignore[typeddict-item]
    return row


def _explain_bucket(
    catalog: Catalog, day: date, provider: str, project: str, bucket: _Bucket
) -> tuple[list[Cause], Decimal]:
    """Named causes for one bucket, and what is left of its gap unexplained."""
    estimate = _estimate(catalog, provider, day, bucket.uses)
    gap = estimate - bucket.billed
    causes: list[Cause] = []
    unpriced = [u for u in bucket.uses if _cost(catalog, provider, day, u) is None]
    fits = []
    for cause, detail, alt in _what_ifs(catalog, provider, day, bucket):
        left = gap - (estimate - alt)
        if gap and abs(left) <= abs(gap) * FIT:
            fits.append((abs(left), cause, detail, estimate - alt))
    if fits:
        _, cause, detail, explained = min(fits)
        explained = gap if abs(explained) > abs(gap) else explained
        extra = {"tier": detail} if detail else {}
        causes.append(_cause(day, provider, project, cause, bucket.model, explained, **extra))
        gap -= explained
    if unpriced and gap < 0:  # billed more than we priced: what had no price accounts for it
        for model in sorted({u.model for u in unpriced}):
            tokens = sum(u.counts.get(c, 0) for u in unpriced if u.model == model for c in TOKEN_COUNTERS)
            share = gap if len({u.model for u in unpriced}) == 1 else gap * tokens / _tokens(unpriced)
            causes.append(_cause(day, provider, project, "unpriced", model, share, tokens=tokens))
        gap = Decimal(0)
    return causes, gap


def _tokens(uses: Sequence[_Use]) -> int:
    return sum(u.counts.get(c, 0) for u in uses for c in TOKEN_COUNTERS) or 1


def _price_steps(ratios: dict[str, dict[date, Decimal]]) -> dict[tuple[str, date], tuple[str, Decimal]]:
    """Per model, the days billed at a steady price other than the catalog's: {(model, day): (since, change)}.

    A step is a run of days to the end of the range whose bill/estimate ratios agree within STEADY
    and differ from 1 by more than STEADY; the day it starts is when the provider's price changed
    (unless the range starts with it: then the change is older than the range).
    """
    out: dict[tuple[str, date], tuple[str, Decimal]] = {}
    for model, by_day in ratios.items():
        days = sorted(by_day)
        start = len(days)
        while start > 0:
            run = [by_day[d] for d in days[start - 1 :]]
            if max(run) - min(run) > STEADY * min(run) or abs(by_day[days[start - 1]] - 1) <= STEADY:
                break
            start -= 1
        run_days = days[start:]
        if len(run_days) < 2:
            continue
        ratio = sorted(by_day[d] for d in run_days)[len(run_days) // 2]
        since = run_days[0].isoformat() if start > 0 else ""
        for d in run_days:
            out[(model, d)] = (since, ((ratio - 1) * 100).quantize(PCT))
    return out


def explain(org_id: str, start: date, end: date, catalog: Catalog | None = None) -> list[Cause]:
    """Why estimate and bill differ, per UTC day and project: named causes with their part of the gap.

    `not_billed`: the provider has no bill for that day at all yet. `unpriced`: usage of a model the
    catalog has no price for (the bill is higher by what it cost). `cache_ttl`: the bill fits cache
    writes priced at the other TTL. `tier`/`batch`: the bill names a service tier or batch that our
    usage was not priced at. `price_change`: from a day on, a model is billed at a steady ratio to
    our estimate, i.e. the provider's price changed on a date the catalog lacks. `other`: the rest.
    """
    catalog = catalog or get_catalog()
    with get_engine().connect() as conn:
        providers = _providers(conn, org_id)
        if not providers:
            return []
        usage, bills = _load(conn, org_id, start, end, providers, by_model=True)
    uses: dict[tuple[date, str, str], list[_Use]] = defaultdict(list)
    for rec in usage:
        day = _day(rec["price_date"])
        counts = {c: int(rec[c] or 0) for c in USAGE_COUNTERS}
        use = _Use(rec["model"], rec["service_tier"] or "", bool(rec["batch"]), int(rec["context_band"] or 0), counts)
        uses[(day, rec["provider"], rec["project_id"])].append(use)
    billed_days: set[tuple[date, str]] = set()
    bill_rows: dict[tuple[date, str, str], list[tuple[str, str, str, Decimal]]] = defaultdict(list)
    for bucket_start, provider, project, model, tier, line_item, micros in bills:
        day = bucket_start.date()
        billed_days.add((day, provider))
        bill_rows[(day, provider, project)].append(
            (_bill_model(model or "", line_item or ""), tier or "", line_item or "", Decimal(int(micros or 0)) * MICRO)
        )
    groups: dict[tuple[date, str, str], list[_Bucket]] = {}
    for key in set(uses) | set(bill_rows):
        day, provider, project = key
        group_uses, group_bills = uses.get(key, []), bill_rows.get(key, [])
        if group_bills and all(model for model, *_ in group_bills):
            models = sorted({u.model for u in group_uses})
            buckets: dict[str, _Bucket] = {m: _Bucket(m) for m in models}
            for use in group_uses:
                buckets[use.model].uses.append(use)
            for model, tier, line_item, amount in group_bills:
                b = buckets.setdefault(_match(model, models), _Bucket(_match(model, models)))
                _add_bill(b, tier, line_item, amount)
            groups[key] = list(buckets.values())
        else:
            whole = _Bucket("", list(group_uses))
            for _model, tier, line_item, amount in group_bills:
                _add_bill(whole, tier, line_item, amount)
            groups[key] = [whole]
    out: list[Cause] = []
    leftovers: dict[tuple[date, str, str, str], Decimal] = {}
    ratios: dict[str, dict[date, Decimal]] = defaultdict(dict)
    gaps: dict[tuple[str, str, str], Decimal] = {}
    for key in sorted(groups):
        day, provider, project = key
        gaps[(day.isoformat(), provider, project)] = sum(
            (_estimate(catalog, provider, day, b.uses) - b.billed for b in groups[key]), Decimal(0)
        )
        if (day, provider) not in billed_days:
            gap = _estimate(catalog, provider, day, uses.get(key, []))
            if gap:
                out.append(_cause(day, provider, project, "not_billed", "", gap))
            continue
        for bucket in groups[key]:
            causes, left = _explain_bucket(catalog, day, provider, project, bucket)
            out.extend(causes)
            if left:
                leftovers[(day, provider, project, bucket.model)] = left
            estimate = _estimate(catalog, provider, day, bucket.uses)
            if bucket.model and not causes and estimate and bucket.billed:  # days at the old price count too
                ratios[f"{provider}\n{bucket.model}"][day] = bucket.billed / estimate
    steps = _price_steps(ratios)
    for (day, provider, project, model), left in leftovers.items():
        step = steps.get((f"{provider}\n{model}", day))
        if step is not None:
            out.append(_cause(day, provider, project, "price_change", model, left, since=step[0], change_pct=step[1]))
        elif left.quantize(CENT):
            out.append(_cause(day, provider, project, "other", model, left))
    return _with_shares(out, gaps)


def _add_bill(bucket: _Bucket, tier: str, line_item: str, amount: Decimal) -> None:
    bucket.billed += amount
    words = line_item.lower()
    tier = tier or next((t for t in ("priority", "flex", "scale") if t in words), "")
    if tier:
        bucket.bill_tiers.add(tier)
    bucket.bill_batch = bucket.bill_batch or "batch" in words


def _with_shares(causes: list[Cause], gaps: dict[tuple[str, str, str], Decimal]) -> list[Cause]:
    """Each cause's share of its day and project's difference: |amount| over the causes' |amounts|, so
    causes pulling opposite ways still read as parts of 100%."""
    weights: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for c in causes:
        weights[(c["day"], c["provider"], c["project"])] += abs(c["amount_usd"])
    for c in causes:
        key = (c["day"], c["provider"], c["project"])
        c["gap_usd"] = gaps[key].quantize(MICRO)
        c["share_pct"] = (abs(c["amount_usd"]) / weights[key] * 100).quantize(PCT) if weights[key] else None
    causes.sort(key=lambda c: (c["day"], c["provider"], c["project"], -abs(c["amount_usd"])))
    return causes


def day_causes(causes: Sequence[Cause]) -> list[DayCause]:
    """Per day, the cause (and model) behind the largest part of that day's gap, with its share (as in
    explain: of the causes' absolute amounts). Providers not billed yet count as one cause."""
    by_day: dict[str, dict[tuple[str, str, str], list[Cause]]] = defaultdict(lambda: defaultdict(list))
    for c in causes:
        provider = "" if c["cause"] == "not_billed" else c["provider"]
        by_day[c["day"]][(c["cause"], c["model"], provider)].append(c)
    out: list[DayCause] = []
    for day, parts in sorted(by_day.items()):
        groups = {(c["provider"], c["project"]): c["gap_usd"] for cs in parts.values() for c in cs}
        gap = sum(groups.values(), Decimal(0))
        (cause, model, provider), top = max(
            parts.items(), key=lambda kv: abs(sum((c["amount_usd"] for c in kv[1]), Decimal(0)))
        )
        amount = sum((c["amount_usd"] for c in top), Decimal(0))
        weight = sum((abs(sum((c["amount_usd"] for c in cs), Decimal(0))) for cs in parts.values()), Decimal(0))
        first = top[0]
        out.append(
            {
                "day": day,
                "gap_usd": gap,
                "cause": cause,
                "model": model,
                "provider": provider,
                "share_pct": (abs(amount) / weight * 100).quantize(PCT) if weight else None,
                "tokens": sum(c["tokens"] for c in top),
                "tier": first["tier"],
                "since": first["since"],
                "change_pct": first["change_pct"],
            }
        )
    return out

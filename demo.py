"""All demo seeding: two synthetic orgs with 90 days of realistic usage, the real Azure traces, limits
and a trial credit near the forecast, and sign-in accounts for the demo members."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

from sqlalchemy import delete, insert
from sqlmodel import col, select

from collectors.base import mark_rows_dirty, upsert_buckets, usage_row
from collectors.logs.ingest import Defaults, ingest
from models.access.auth import _verify, add_user, get_user
from models.access.orgs import create_org, get_org, set_member
from models.access.roles import Actor
from models.budgets import billing
from models.budgets.credits import add_credit
from models.budgets.forecast import forecast_scope
from models.budgets.limits import DEFAULT_THRESHOLDS, set_limit
from models.db import get_engine, session_scope
from models.pricing.catalog import get_catalog, normalize_tier
from models.spend.rollups import process_dirty
from models.tables import USAGE_COUNTERS, BilledCost, Organization
from models.units import DAY, HOUR, add_months

DEMO_DAYS = 90
UNPRICED_MODEL = "gpt-6-pro"
UNPRICED_SINCE_DAYS = 21  # days before now the unpriced model's trial began
# What the provider bills for it, USD per million input / output tokens (the catalog has no price).
UNPRICED_BILLED = (Decimal(20), Decimal(160))
AZURE_DIR = Path(__file__).resolve().parent / "data" / "azure-llm-inference-2023"
# The demo members' sign-in passwords by role (printed by `spendsight demo` and `make run`).
DEMO_PASSWORDS = {"owner": "demo-owner-pass", "reader": "demo-reader-pass"}
DEMO_MEMBERS = (
    ("owner@example.com", "owner"),
    ("finance@example.com", "reader"),
    ("engineer@example.com", "reader"),
)


@dataclass(frozen=True)
class Stream:
    """One steady flow of traffic: who sends it, to which model, and its per-request shape."""

    project: str
    key: str
    user: str
    provider: str
    model: str
    requests_per_hour: float
    prompt: int
    completion: int
    cached_share: float = 0.0
    cache_write_share: float = 0.0
    batch: bool = False
    kind: str = "completions"
    reasoning_share: float = 0.0


PROD = (
    Stream("chat-assistant", "key_chat_prod", "user-web", "openai", "gpt-4o", 220, 1800, 350, cached_share=0.45),
    Stream("chat-assistant", "key_chat_prod", "user-mobile", "openai", "gpt-4o-mini", 480, 1200, 260, cached_share=0.3),
    Stream(
        "search-rag",
        "key_rag_prod",
        "user-web",
        "anthropic",
        "claude-sonnet-4-5",
        90,
        6500,
        420,
        cached_share=0.55,
        cache_write_share=0.08,
    ),
    Stream(
        "search-rag",
        "key_embed_prod",
        "svc-indexer",
        "openai",
        "text-embedding-3-small",
        900,
        700,
        0,
        kind="embeddings",
    ),
    Stream("batch-summaries", "key_batch_prod", "svc-nightly", "openai", "gpt-4o-mini", 160, 3000, 500, batch=True),
    Stream("support-triage", "key_triage_prod", "svc-triage", "anthropic", "claude-3-5-haiku-latest", 140, 900, 120),
    Stream("code-review", "key_review_prod", "user-ci", "openai", "o3", 12, 5200, 2400, reasoning_share=0.7),
    # A model newer than the price catalog, tried by one team for the last three weeks: Reconciliation
    # shows its bill as the gap.
    Stream("code-review", "key_review_prod", "user-ci", "openai", UNPRICED_MODEL, 3, 4000, 1800, reasoning_share=0.6),
)
STAGING = (
    Stream("chat-assistant", "key_chat_stg", "user-qa", "openai", "gpt-4o", 25, 1700, 300, cached_share=0.3),
    Stream("search-rag", "key_rag_stg", "user-qa", "anthropic", "claude-sonnet-4-5", 12, 6000, 380, cached_share=0.4),
    Stream("experiments", "key_lab_stg", "user-lab", "openai", "gpt-4.1", 18, 2500, 600),
    Stream("experiments", "key_lab_stg", "user-lab", "self-hosted", "llama-3.1-70b-internal", 30, 1500, 400),
)


def load_demo(force: bool = False, now: datetime | None = None) -> str:
    """Load the demo unless the database already holds organizations."""
    with session_scope() as session:
        if not force and session.exec(select(Organization)).first() is not None:
            # The sign-ins are printed on every start: `make run` is how people find them again.
            return "demo: database already has data; nothing loaded" + load_demo_logins(DEMO_MEMBERS)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    with session_scope() as session:
        for org_id, name, env, tz in (
            ("org-prod", "Acme Production", "prod", "America/New_York"),
            ("org-staging", "Acme Staging", "staging", "UTC"),
        ):
            if session.get(Organization, org_id) is None:
                create_org(session, org_id, name, env, tz)
            for email, role in DEMO_MEMBERS:
                set_member(session, org_id, email, role)
    rows = list(_bucket_rows("org-prod", PROD, now, seed=7, spike_day=12, growth=0.012))
    rows += list(_bucket_rows("org-staging", STAGING, now, seed=11, spike_day=None, growth=0.004))
    _write(rows)
    bills = load_demo_bills("org-prod", [r for r in rows if r["org_id"] == "org-prod"], now)
    azure = _load_azure()
    load_demo_budgets(now)
    logins = load_demo_logins(DEMO_MEMBERS)
    return (
        f"demo: loaded {len(rows)} hourly buckets for org-prod and org-staging, {bills} provider-billed "
        f"cost lines for org-prod; {azure}{logins}"
    )


def _bucket_rows(org_id, streams, now, seed, spike_day, growth):
    rng = random.Random(seed)
    start = now - timedelta(days=DEMO_DAYS)
    hours = DEMO_DAYS * 24
    for h in range(hours):
        moment = start + timedelta(hours=h)
        day_index = h // 24
        weekday = moment.weekday()
        weekly = 0.45 if weekday >= 5 else (1.08 if weekday in (1, 2) else 1.0)
        diurnal = 0.55 + 0.45 * math.sin(math.pi * ((moment.hour - 8) % 24) / 24) ** 2
        trend = (1 + growth) ** day_index
        for stream in streams:
            if stream.model == UNPRICED_MODEL and now - moment > timedelta(days=UNPRICED_SINCE_DAYS):
                continue
            factor = weekly * diurnal * trend
            if stream.batch:
                factor = weekly * trend * (2.6 if moment.hour in (1, 2, 3) else 0.2)  # nightly jobs
            if spike_day is not None and day_index == DEMO_DAYS - spike_day and stream.project == "search-rag":
                factor *= 4.0  # a runaway re-index: the spike the alerts should catch
            mean = stream.requests_per_hour * factor
            requests = max(0, int(rng.gauss(mean, math.sqrt(mean) + 1)))
            if requests == 0:
                continue
            prompt = int(requests * stream.prompt * rng.uniform(0.9, 1.1))
            cached = int(prompt * stream.cached_share * rng.uniform(0.85, 1.1))
            writes = int(prompt * stream.cache_write_share)
            cached = min(cached, prompt - writes)
            output = int(requests * stream.completion * rng.uniform(0.85, 1.15))
            yield usage_row(
                org_id=org_id,
                provider=stream.provider,
                source="demo",
                kind=stream.kind,
                project_id=stream.project,
                api_key_id=stream.key,
                user_id=stream.user,
                model=stream.model,
                service_tier=normalize_tier(""),
                batch=stream.batch,
                context_band=0,
                bucket_start=moment,
                bucket_width=HOUR,
                request_id="",
                requests=requests,
                input_tokens=prompt,
                cached_input_tokens=cached,
                cache_write_tokens=writes,
                output_tokens=output,
                reasoning_tokens=int(output * stream.reasoning_share),
            )


def _write(rows) -> None:
    with get_engine().begin() as conn:
        for i in range(0, len(rows), 5000):
            upsert_buckets(conn, rows[i : i + 5000])
        mark_rows_dirty(conn, rows)
    process_dirty()


def load_demo_bills(org_id: str, rows: list[dict], now: datetime) -> int:
    """Provider-billed daily costs for the demo usage, with the drift real bills have.

    Each model's daily bill is the catalog price of its usage give or take a rounding wobble, except:
    the unpriced model is billed at UNPRICED_BILLED; search-rag's cache writes are billed at the
    1-hour TTL for the last 30 days (the app switched TTL; its logs do not say so); chat-assistant's
    gpt-4o ran on the priority tier for 5 weekdays; support-triage went through the batch API for the
    last 10 days; o3 got 20% cheaper 25 days ago; and nothing is billed yet for today (UTC).
    Returns how many bill lines were written.
    """
    catalog = get_catalog()
    today = now.astimezone(UTC).date()
    sums: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = (r["bucket_start"].date(), r["provider"], r["project_id"], r["model"], bool(r["batch"]))
        for counter in USAGE_COUNTERS:
            sums[key][counter] += int(r.get(counter) or 0)
    rng = random.Random(29)
    bills = []
    for (day, provider, project, model, batch), counts in sorted(sums.items()):
        age = (today - day).days
        if age < 1:
            continue  # providers publish a day's costs after it ends
        tier, line = "", f"{model}, tokens"
        counts = dict(counts)
        if model == UNPRICED_MODEL:
            per_in, per_out = UNPRICED_BILLED
            amount = (per_in * counts["input_tokens"] + per_out * counts["output_tokens"]) / 10**6
        else:
            if project == "search-rag" and provider == "anthropic" and age <= 30:
                counts["cache_write_1h_tokens"] = counts["cache_write_tokens"]
            if project == "chat-assistant" and model == "gpt-4o" and 8 <= age <= 14 and day.weekday() < 5:
                tier = "priority"
            if project == "support-triage" and age <= 10:
                batch, line = True, f"{model}, batch tokens"
            price = catalog.resolve(provider, model, day, tier, batch)
            amount = price.cost(counts) if price is not None else Decimal(0)
            if model == "o3" and age <= 25:
                amount *= Decimal("0.8")
            amount *= Decimal(1) + Decimal(rng.randint(-3, 3)) / 1000  # rounding on the provider's side
        bills.append(
            dict(
                org_id=org_id,
                source="demo",
                provider=provider,
                bucket_start=datetime.combine(day, datetime.min.time(), UTC),
                bucket_width=DAY,
                project_id=project,
                line_item=line,
                model=model,
                service_tier=tier,
                amount_micros=int(amount * 10**6),
                currency="USD",
                ingested_at=now,
            )
        )
    with get_engine().begin() as conn:
        conn.execute(delete(BilledCost).where(col(BilledCost.org_id) == org_id, col(BilledCost.source) == "demo"))
        if bills:
            conn.execute(insert(BilledCost), bills)
    return len(bills)


def _load_azure() -> str:
    """The real Azure LLM inference traces (CC-BY-4.0) as a third org, through the CSV ingest path."""
    files = {
        "code": AZURE_DIR / "AzureLLMInferenceTrace_code.csv",
        "conv": AZURE_DIR / "AzureLLMInferenceTrace_conv.csv",
    }
    if not all(p.exists() for p in files.values()):
        return "Azure traces not found; skipped"
    mapping = {"timestamp": "TIMESTAMP", "input_tokens": "ContextTokens", "output_tokens": "GeneratedTokens"}
    total = 0
    for project, path in files.items():
        result = ingest([path], "csv", Defaults(org="azure-demo", project=project, model="gpt-4"), mapping)
        total += result.ingested
    with session_scope() as session:
        org = session.get(Organization, "azure-demo")
        if org is not None:
            org.name = "Azure trace (Nov 2023)"
            session.add(org)
            for email, role in DEMO_MEMBERS:
                set_member(session, "azure-demo", email, role)
    return f"ingested {total} Azure trace requests into azure-demo"


def load_demo_budgets(now: datetime) -> None:
    """Demo limits around this month's forecast, a project limit, and an $18 trial credit on staging."""
    actor = Actor.cli()
    now = now.astimezone(UTC)
    prod = forecast_scope("org-prod", now=now)
    since = now - timedelta(days=DEMO_DAYS)  # in force since the demo's first day, so past statements show them
    if prod is not None and prod.p50 > 0:
        set_limit(
            actor,
            "org-prod",
            soft=_round(prod.p50 * Decimal("0.85"), ROUND_FLOOR),
            hard=_round(prod.p50 * Decimal("1.3"), ROUND_CEILING),
            quota=_round(prod.p50 * Decimal("2"), ROUND_CEILING),
            thresholds=DEFAULT_THRESHOLDS,
            now=since,
        )
    rag = forecast_scope("org-prod", project="search-rag", now=now)
    if rag is not None and rag.p50 > 0:
        set_limit(
            actor,
            "org-prod",
            "search-rag",
            soft=_round(rag.p50 * Decimal("1.1"), ROUND_CEILING),
            hard=_round(rag.p50 * Decimal("1.5"), ROUND_CEILING),
            thresholds=(80, 100),
            now=since,
        )
    with session_scope() as session:
        tz = get_org(session, "org-staging").timezone
    granted = billing.local_today(tz, now)  # staging burns ~$11 a day: a fresh grant shows it running out
    expires = add_months(granted, 3)
    add_credit(actor, "org-staging", Decimal(18), expires, granted, note="trial credit", now=now)


def _round(amount: Decimal, rounding) -> Decimal:
    """A friendly limit: whole dollars, at least $1."""
    return max(Decimal(1), amount.quantize(Decimal(1), rounding=rounding))


def load_demo_logins(members) -> str:
    """Password users for the demo members; returns the lines `spendsight demo` prints, one per member."""
    shown: list[tuple[str, str, str]] = []
    with session_scope() as session:
        for email, role in members:
            password = DEMO_PASSWORDS[role]
            user = get_user(session, email)
            if user is None:
                add_user(session, Actor.cli(), email, password)
            elif not _verify(user.password_hash, password):
                password = "(existing password kept)"
            shown.append((role, email, password))
    lines = [f"  {role:<6} {email}  password: {password}" for role, email, password in shown]
    return "\ndemo sign-in (change or remove these accounts before real use):\n" + "\n".join(lines)

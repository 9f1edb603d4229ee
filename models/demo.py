"""Demo data: two synthetic orgs with 90 days of realistic usage, plus the real Azure traces."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from models.db import get_engine, session_scope
from models.orgs import create_org, set_member
from models.tables import ApiKey, Organization, Project

DEMO_DAYS = 90
AZURE_DIR = Path(__file__).resolve().parent.parent / "data" / "azure-llm-inference-2023"
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
    Stream("search-rag", "key_rag_prod", "user-web", "anthropic", "claude-sonnet-4-5", 90, 6500, 420,
           cached_share=0.55, cache_write_share=0.08),
    Stream("search-rag", "key_embed_prod", "svc-indexer", "openai", "text-embedding-3-small", 900, 700, 0,
           kind="embeddings"),
    Stream("batch-summaries", "key_batch_prod", "svc-nightly", "openai", "gpt-4o-mini", 160, 3000, 500, batch=True),
    Stream("support-triage", "key_triage_prod", "svc-triage", "anthropic", "claude-3-5-haiku-latest", 140, 900, 120),
    Stream("code-review", "key_review_prod", "user-ci", "openai", "o3", 12, 5200, 2400, reasoning_share=0.7),
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
            return "demo: database already has data; nothing loaded"
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
        for org_id, streams in (("org-prod", PROD), ("org-staging", STAGING)):
            _describe(session, org_id, streams)
    rows = list(_bucket_rows("org-prod", PROD, now, seed=7, spike_day=12, growth=0.012))
    rows += list(_bucket_rows("org-staging", STAGING, now, seed=11, spike_day=None, growth=0.004))
    _write(rows)
    azure = _load_azure()
    _demo_budgets(now)
    logins = _demo_logins()
    return f"demo: loaded {len(rows)} hourly buckets for org-prod and org-staging; {azure}{logins}"


def _describe(session, org_id: str, streams) -> None:
    for project in sorted({s.project for s in streams}):
        if not session.exec(select(Project).where(Project.org_id == org_id, Project.project_id == project)).first():
            session.add(Project(org_id=org_id, project_id=project, name=project.replace("-", " ").title()))
    for key in sorted({s.key for s in streams}):
        if not session.exec(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.key_id == key)).first():
            session.add(ApiKey(org_id=org_id, key_id=key, hint=f"sk-...{key[-4:]}", name=key))


def _bucket_rows(org_id, streams, now, seed, spike_day, growth):
    from collectors.base import usage_row
    from models.prices import normalize_tier

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
                org_id=org_id, provider=stream.provider, source="demo", kind=stream.kind,
                project_id=stream.project, api_key_id=stream.key, user_id=stream.user, model=stream.model,
                service_tier=normalize_tier(""), batch=stream.batch, context_band=0,
                bucket_start=moment, bucket_width=3600, request_id="",
                requests=requests, input_tokens=prompt, cached_input_tokens=cached, cache_write_tokens=writes,
                output_tokens=output, reasoning_tokens=int(output * stream.reasoning_share),
            )


def _write(rows) -> None:
    from collectors.base import mark_rows_dirty, upsert_buckets
    from models.rollups import process_dirty

    with get_engine().begin() as conn:
        for i in range(0, len(rows), 5000):
            upsert_buckets(conn, rows[i : i + 5000])
        mark_rows_dirty(conn, rows)
    process_dirty()


def _load_azure() -> str:
    """The real Azure LLM inference traces (CC-BY-4.0) as a third org, through the CSV ingest path."""
    from collectors.logs import Defaults, ingest

    files = {"code": AZURE_DIR / "AzureLLMInferenceTrace_code.csv", "conv": AZURE_DIR / "AzureLLMInferenceTrace_conv.csv"}
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


def _demo_budgets(now: datetime) -> None:
    """Limits and a credit grant near the forecast, when the budgets module is present."""
    try:
        from models.budgets import load_demo_budgets
    except ImportError:
        return
    load_demo_budgets(now)


def _demo_logins() -> str:
    """Demo sign-in accounts for the members above, when the auth module is present ('' otherwise)."""
    try:
        from models.auth import load_demo_logins
    except ImportError:
        return ""
    return load_demo_logins(DEMO_MEMBERS)

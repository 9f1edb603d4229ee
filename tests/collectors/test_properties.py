"""Property tests (Hypothesis): any file is refused whole (binary) or each of its lines is stored or
quarantined with a reason, never an exception;
stored rows add up to the same `spendsight report` totals; typed money parses as written or not at all."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql_text

from collectors.logs import formats
from collectors.logs.client import UsageError
from collectors.logs.fast import FastPath
from collectors.logs.ingest import Defaults, ingest
from collectors.logs.settings import MAX_COUNT
from models.db import get_engine
from models.numbers import parse_decimal, parse_usd
from models.pricing.catalog import get_catalog
from models.spend.report import report_rows
from models.validation import ValidationError

# Fast and repeatable: few examples, no deadline (the database sets the pace), no example database.
FAST = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PURE = settings(max_examples=200, deadline=None, database=None)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
usage_keys = st.sampled_from(
    ["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "cache_read_input_tokens", "total_tokens"]
)
counts = st.one_of(
    st.integers(min_value=-5, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
)
# Response-shaped objects with hostile values where it matters: ids, models, counts, times.
responses = st.fixed_dictionaries(
    {
        "id": st.text(max_size=210),
        "model": st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-5", "text-embedding-3-small", ""]) | st.text(),
        "usage": st.dictionaries(usage_keys, counts, max_size=4),
    },
    optional={
        "object": st.sampled_from(["chat.completion", "response", "list", "message"]),
        "type": st.just("message"),
        "created": st.integers(min_value=-(2**40), max_value=2**50) | st.floats() | st.text(max_size=25),
        "service_tier": st.text(max_size=45),
    },
)
wrapped = st.fixed_dictionaries(
    {"response": responses},
    optional={
        "timestamp": st.text(max_size=30) | st.integers(min_value=-(2**40), max_value=2**45),
        "org": st.text(max_size=12),
        "project": st.text(max_size=205),
        "user": st.text(max_size=20),
    },
)
lines = st.one_of(
    responses.map(json.dumps),
    wrapped.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("utf-8", "replace")),
).map(lambda line: line.replace("\n", " ").replace("\r", " "))


@FAST
@given(batch=st.lists(lines, min_size=1, max_size=8))
@example(batch=["\x00"])  # a file of one NUL byte is binary, refused whole: found by Hypothesis
def test_any_line_is_stored_or_quarantined_never_an_exception(batch, tmp_path_factory):
    log = tmp_path_factory.mktemp("prop") / "any.jsonl"
    log.write_text("".join(line + "\n" for line in batch), encoding="utf-8", errors="surrogatepass")
    org = "org-" + uuid.uuid4().hex[:10]
    before = stored_rows()
    try:
        result = ingest([log], defaults=Defaults(org=org, at=datetime(2026, 11, 10, tzinfo=UTC)))
    except UsageError as exc:
        # A file that is mostly NUL or not UTF-8 is refused as a whole (exit 2), before anything is stored.
        assert str(log) in str(exc) and "binary file" in str(exc)
        assert stored_rows() == before
        assert count("SELECT COUNT(*) FROM usage WHERE org_id = :org", org=org) == 0
        assert count("SELECT COUNT(*) FROM quarantine WHERE org_id = :org", org=org) == 0
        return
    assert result.read >= sum(1 for line in batch if line.strip())
    assert result.ingested + result.duplicate + result.quarantined == result.read
    assert len(result.problems) == min(result.quarantined, 5)
    assert all(": " in problem for problem in result.problems)  # file:line: field: reason


def count(sql: str, **params: str) -> int:
    with get_engine().connect() as conn:
        return int(conn.execute(sql_text(sql), params).scalar_one())


def stored_rows() -> tuple[int, int]:
    """Every usage and quarantine row, whatever its org (a wrapped line may name its own org)."""
    return count("SELECT COUNT(*) FROM usage"), count("SELECT COUNT(*) FROM quarantine")


valid_rows = st.lists(
    st.fixed_dictionaries(
        {
            "prompt": st.integers(min_value=0, max_value=MAX_COUNT),
            "completion": st.integers(min_value=0, max_value=MAX_COUNT),
            "second": st.integers(min_value=0, max_value=86400 * 28),
            "wrap": st.booleans(),
            "project": st.sampled_from(["", "p1", "p2"]),
        }
    ),
    min_size=1,
    max_size=12,
)


@FAST
@given(rows=valid_rows)
def test_stored_rows_round_trip_to_the_report_totals(rows, tmp_path_factory):
    org = "org-" + uuid.uuid4().hex[:10]
    start = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    out = []
    for i, row in enumerate(rows):
        body = {
            "id": f"chatcmpl-{i}",
            "object": "chat.completion",
            "created": start + row["second"],
            "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": row["prompt"], "completion_tokens": row["completion"]},
        }
        line = (
            {"timestamp": start + row["second"], "project": row["project"], "response": body} if row["wrap"] else body
        )
        out.append(json.dumps(line))
    log = tmp_path_factory.mktemp("prop") / "good.jsonl"
    log.write_text("\n".join(out) + "\n")
    result = ingest([log], defaults=Defaults(org=org))
    assert (result.ingested, result.quarantined) == (len(rows), 0)
    total = report_rows(org, date(2026, 10, 31), date(2026, 12, 2))[0]
    assert total["requests"] == len(rows)
    assert total["input_tokens"] == sum(r["prompt"] for r in rows)
    assert total["output_tokens"] == sum(r["completion"] for r in rows)
    by_project = {
        r["project"]: r["requests"] for r in report_rows(org, date(2026, 10, 31), date(2026, 12, 2), ("project",))
    }
    expected: dict[str, int] = {}
    for row in rows:
        project = row["project"] if row["wrap"] else ""
        expected[project] = expected.get(project, 0) + 1
    assert by_project == expected


# --- the parsers alone (no database: many examples) -----------------------------------------


@PURE
@given(obj=json_values | responses | wrapped)
def test_the_line_parsers_return_a_record_or_a_reject(obj):
    for parse in (formats.parse_openai, formats.parse_anthropic):
        try:
            payload = obj if isinstance(obj, dict) else {"value": obj}
            wrapper, inner = formats.unwrap(payload)
            record = parse(inner)
            formats.apply_wrapper(record, wrapper)
        except formats.Reject as reject:
            assert reject.field and reject.reason
            continue
        for key in ("input_tokens", "output_tokens", "cached_input_tokens"):
            assert 0 <= record.get(key, 0) <= MAX_COUNT * 4  # (Anthropic's input adds up to 4 counts)
        for key in ("request_id", "model", "project", "user", "service_tier"):
            value = record.get(key, "")
            assert not formats.CONTROL.search(value) and len(value) <= 200


@PURE
@given(line=lines)
def test_the_fast_path_never_raises_and_only_takes_what_the_general_path_takes(line):
    fast = FastPath("org-p", None, get_catalog())
    record = fast.record(line)
    if record is None:
        return
    obj = formats.load_json_line(line)
    wrapper, payload = formats.unwrap(obj)
    general = formats.parse_openai(payload)  # raises Reject if the fast path took a bad line
    formats.apply_wrapper(general, wrapper)


@PURE
@given(text=st.text(max_size=30))
def test_money_text_parses_or_is_refused_with_a_message(text):
    try:
        amount = parse_usd(text, "amount")
    except ValidationError as exc:
        assert "amount" in str(exc)
        return
    assert amount.is_finite() and amount > 0


@PURE
@given(amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**8), places=2))
def test_money_with_thousands_separators_reads_back_exactly(amount):
    assert parse_usd(f"{amount:,}", "amount") == amount
    assert parse_usd(f"${amount:,.2f}", "amount") == amount


@PURE
@given(whole=st.integers(min_value=0, max_value=999), fraction=st.integers(min_value=0, max_value=99))
def test_a_decimal_comma_is_never_read_as_a_larger_number(whole, fraction):
    for text in (f"{whole},{fraction}", f"{whole},{fraction:02}"):
        with pytest.raises(ValidationError):
            parse_decimal(text, "amount")

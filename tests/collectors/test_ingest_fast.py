"""The msgspec fast path gives exactly the general path's record, or declines the line; a file of every
kind stores the same rows and quarantines the same lines with either path, on both backends."""

import json
import random

import pytest
from sqlalchemy import text as sql

import collectors.logs.ingest as ingest_module
from bench.gen import line as generated_line
from bench.gen import mixed_line
from collectors.base import USAGE_COLUMNS
from collectors.logs.client import Item, Lines, read_jsonl
from collectors.logs.fast import FastPath
from collectors.logs.ingest import Defaults, _to_record, ingest
from models.db import get_engine
from models.pricing.catalog import get_catalog
from tests.collectors.test_ingest import BATCH, CHAT, EMBED, MESSAGE, MESSAGE_BATCH, RESPONSES, WRAPPED

EDGE_CASES = [
    CHAT,
    RESPONSES,
    {**CHAT, "id": " padded "},  # the general path rejects untrimmed ids
    {**CHAT, "model": "claude-sonnet-4-5"},  # read as Anthropic by the general path
    {**CHAT, "created": 1762776000.5},  # a float time: the general path takes it
    {**CHAT, "usage": {"prompt_tokens": 10.0, "completion_tokens": 1}},  # integral float
    {**CHAT, "usage": {"prompt_tokens": 10, "completion_tokens": -1}},  # rejected by the general path
    {**CHAT, "usage": {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 11}}},
    {**CHAT, "usage": {"prompt_tokens": True, "completion_tokens": 1}},
    {**CHAT, "service_tier": "x" * 41},
    {**CHAT, "id": "y" * 201},
    {**CHAT, "usage": {"prompt_tokens": 5, "cache_read_input_tokens": 2}},
    {"object": "chat.completion", "model": "gpt-4o", "usage": {"prompt_tokens": 1}},  # no time, no id
    {**CHAT, "created": 1762776000123},  # milliseconds: the general path divides them
    {**RESPONSES, "created": None},  # the general path reads `created` before `created_at`
    {**WRAPPED, "timestamp": 1762776000, "org": None, "project": " padded"},
    {**WRAPPED, "timestamp": 1762776000, "org": None, "user": 42},
    {**WRAPPED, "timestamp": 1762776000.5, "org": None},
    {"timestamp": 1762776000, "response": {"body": {}, "object": "chat.completion"}},  # "body", no usage
    {**BATCH, "error": {"code": "x"}},
    {**BATCH, "response": {**BATCH["response"], "status_code": 500}},
    {**BATCH, "response": {"status_code": 200, "body": {**BATCH["response"]["body"], "id": ""}}},
    {**CHAT, "custom_id": "t1"},  # a batch line without its response
    {**CHAT, "response": {"id": "x"}},
    {**CHAT, "type": "message"},  # read as Anthropic's by the general path
    {**CHAT, "created": None, "created_at": 1762776000},  # the general path reads `created_at` then
    {**RESPONSES, "usage": {**RESPONSES["usage"], "prompt_tokens": 3}},  # read as Chat Completions counts
    {**EMBED, "created": 1762776000},
    {"timestamp": 1762776000, "response": {**EMBED, "usage": {"prompt_tokens": 3, "completion_tokens": 1}}},
    {"timestamp": 1762776000, "response": {**EMBED, "usage": {"prompt_tokens": 3, "input_tokens": 1}}},
    {"timestamp": 1762776000, "response": {**EMBED, "model": "claude-x"}},
    {"timestamp": "yesterday", "response": CHAT},  # the general path says why not
    {"timestamp": "", "response": CHAT},
    {"timestamp": 1762776000, "org": "bad org!", "response": CHAT},
    {"timestamp": 1762776000, "org": " org-x", "response": CHAT},
    {"timestamp": 1762776000, "response": {"body": {}, "custom_id": "c", "response": BATCH["response"]}},
    {"timestamp": 1762776000, "response": {**BATCH, "error": "x"}},
    {"timestamp": 1762776000, "response": BATCH, "object": "chat.completion"},
    {"timestamp": 1762776000, "response": "not an object"},
    {"timestamp": 1762776000, "response": {**BATCH, "response": {"body": {**EMBED, "id": ""}}}},  # batch line's id
    {**BATCH, "model": "claude-x"},  # the general path judges a batch line's provider by its own keys
    MESSAGE,  # no time of its own: the general path applies --at or says it is missing
    MESSAGE_BATCH,
    {"timestamp": 1762776000, "response": {**MESSAGE, "usage": {**MESSAGE["usage"], "service_tier": "batch "}}},
    {"timestamp": 1762776000, "response": {**MESSAGE, "usage": {"output_tokens": 1}}},
    {"timestamp": 1762776000, "response": {**MESSAGE, "usage": {"input_tokens": 1.5}}},
    {"timestamp": 1762776000, "response": {**MESSAGE, "model": ""}},
    {"timestamp": 1762776000, "response": {**MESSAGE, "type": "error"}},
]
# Shapes the fast path takes; it must give the general path's record for each.
SAME_CASES = [
    BATCH,
    {**BATCH, "error": None, "response": {**BATCH["response"], "status_code": None}},
    {**WRAPPED, "timestamp": 1762776000, "org": None},
    {**WRAPPED, "timestamp": 1762776000, "org": "org-f", "project": "", "user": None},
    {"timestamp": 1762776000, "response": {**RESPONSES, "created_at": None}},
    {"timestamp": 0, "created_at": None, "response": CHAT},
    {**CHAT, "created": 0, "service_tier": "Priority"},
    {**RESPONSES, "usage": {"input_tokens": 300_000, "output_tokens": 5}},  # a long-context band
    {"timestamp": 1762776000, "response": {"body": {}, **CHAT}},  # "body" beside usage: still a wrapper
    {**CHAT, "id": ""},  # no id: named by its content and line number, as on the general path
    WRAPPED,  # an ISO time and an org of its own
    {**WRAPPED, "timestamp": 1762776000, "org": "org-other"},
    {**WRAPPED, "timestamp": 1762776000, "org": None, "created_at": 1762776000},  # the wrapper's timestamp wins
    {**WRAPPED, "timestamp": None, "created_at": "2025-11-10 12:05:00.250+02:00"},
    {**WRAPPED, "timestamp": "1762776000"},  # a number in a string
    {**WRAPPED, "timestamp": "2025-11-10T12:05:00"},  # naive: UTC
    {"timestamp": "2025-11-10T12:05:00Z", "response": EMBED},
    {"timestamp": 1762776000, "response": {**EMBED, "id": "emb-1", "service_tier": "flex"}},
    {"timestamp": "2025-11-10T12:05:00Z", "project": "w", "response": BATCH},
    {"timestamp": 1762776000, "response": {**BATCH, "response": {"body": {**RESPONSES, "id": "resp_b"}}}},
    {"timestamp": "2025-11-10T12:05:00Z", "org": "org-a", "user": "u", "response": MESSAGE},
    {"timestamp": 1762776000, "response": {**MESSAGE, "id": ""}},
    {"timestamp": 1762776000, "response": {**MESSAGE, "usage": {**MESSAGE["usage"], "service_tier": "batch"}}},
    {
        "created_at": 1762776000,
        "response": {
            **MESSAGE,
            "model": "gpt-4o",  # the type says Anthropic, whatever the model
            "usage": {"input_tokens": 250_000, "server_tool_use": {"web_search_requests": 3}, "cache_creation": None},
        },
    },
]


def general_record(text: str, number: int, defaults, catalog):
    items = list(read_jsonl(_OneLine(text, number), None))  # no fast path
    if not items:
        return "rejected"
    item = items[0]
    if item.reject is not None:
        return "rejected"
    try:
        return _to_record(item, "jsonl", defaults, catalog)
    except Exception:
        return "rejected"


class _OneLine(Lines):
    def __init__(self, text, number=1):
        super().__init__(path=None)
        self.text, self.number = text, number

    def __iter__(self):
        self.position.line = self.number
        yield self.text


def test_fast_path_matches_the_general_path():
    catalog, defaults = get_catalog(), Defaults(org="org-f", project="p")
    fast = FastPath("org-f", "p", catalog)
    rng = random.Random(5)
    lines = [generated_line(i, rng) + "\n" for i in range(3000)] + [json.dumps(c) + "\n" for c in EDGE_CASES]
    taken = 0
    for text in lines:
        ready = fast.record(text, 1)
        if ready is None:
            continue
        taken += 1
        assert ready == general_record(text, 1, defaults, catalog), text
    assert taken == 3002  # CHAT, RESPONSES and every generated shape (bare, wrapped, batch) takes the fast path
    for case in SAME_CASES:
        text = json.dumps(case) + "\n"
        assert fast.record(text, 1) is not None, case
        assert fast.record(text, 1) == general_record(text, 1, defaults, catalog), case
    declined = [c for c in EDGE_CASES[2:] if fast.record(json.dumps(c) + "\n", 1) is not None]
    assert declined == []


def test_every_kind_of_the_mixed_bench_takes_the_fast_path():
    """What used to fall back (ISO wrapper times, embeddings, wrapped batch lines, Anthropic messages) does not."""
    catalog, defaults = get_catalog(), Defaults(org="org-f")
    fast = FastPath("org-f", None, catalog)
    rng = random.Random(7)
    kinds = set()
    for number in range(1, 3001):
        text = mixed_line(number, rng) + "\n"
        ready = fast.record(text, number)
        assert ready is not None, text
        assert ready == general_record(text, number, defaults, catalog), text
        kinds.add((ready[USAGE_COLUMNS.index("provider")], ready[USAGE_COLUMNS.index("kind")]))
    assert kinds == {
        ("openai", "completions"),
        ("openai", "responses"),
        ("openai", "embeddings"),
        ("anthropic", "messages"),
    }


def test_a_declared_format_leaves_the_other_providers_lines_to_the_general_path():
    wrapped_message = json.dumps({"timestamp": 1762776000, "response": MESSAGE})
    assert FastPath("o", None, get_catalog(), "openai").record(wrapped_message, 1) is None
    assert FastPath("o", None, get_catalog(), "anthropic").record(json.dumps(CHAT), 1) is None
    assert FastPath("o", None, get_catalog(), "anthropic").record(wrapped_message, 1) is not None


def test_no_org_means_no_fast_path_unless_the_line_names_one():
    assert FastPath(None, None, get_catalog()).record(json.dumps(CHAT), 1) is None
    assert isinstance(FastPath("o", None, get_catalog()).record(json.dumps(CHAT), 1), list)
    named = FastPath(None, None, get_catalog()).record(json.dumps({**WRAPPED, "org": "org-w"}), 1)
    assert named is not None and named[USAGE_COLUMNS.index("org_id")] == "org-w"
    assert Item(1, "").record is None


class _GeneralOnly(FastPath):
    """Declines every line: the ingest then takes the general path for all of them."""

    def record(self, line: str, number: int = 0):
        return None


def _stored():
    usage_columns = [c for c in USAGE_COLUMNS if c not in ("id", "ingested_at")]
    with get_engine().connect() as conn:
        usage = conn.execute(sql(f"SELECT {', '.join(usage_columns)} FROM usage ORDER BY org_id, request_id")).all()
        quarantined = conn.execute(
            sql("SELECT file, line, format, field, reason, raw, raw_sha, org_id FROM quarantine ORDER BY line")
        ).all()
        conn.execute(sql("DELETE FROM usage"))
        conn.execute(sql("DELETE FROM quarantine"))
        conn.commit()
    return [tuple(r) for r in usage], [tuple(r) for r in quarantined]


BAD_LINES = [
    "{not json",
    "[1, 2]",
    json.dumps({**CHAT, "id": "neg", "usage": {"prompt_tokens": -1}}),
    json.dumps({"timestamp": "2025-13-40T00:00:00Z", "response": {**CHAT, "id": "bad-time"}}),
    json.dumps({"timestamp": 1762776000, "org": "bad org!", "response": {**CHAT, "id": "bad-org"}}),
    json.dumps({"timestamp": 1762776000, "response": {**BATCH, "error": {"code": "expired"}}}),
    json.dumps({**BATCH, "response": {**BATCH["response"], "status_code": 500}}),
    json.dumps({"timestamp": 1762776000, "response": {**MESSAGE, "id": "msg-neg", "usage": {"input_tokens": -5}}}),
    json.dumps({"custom_id": "c9", "result": {"type": "errored"}}),
    json.dumps(MESSAGE),  # no time
    json.dumps({"timestamp": 1762776000, "response": {**EMBED, "usage": {"total_tokens": 3}}}),
    json.dumps({**CHAT, "id": "x" * 300}),
    json.dumps({"timestamp": 1762776000, "project": " padded ", "response": {**CHAT, "id": "padded"}}),
    json.dumps({"timestamp": 1762776000, "user": "a\u0000b", "response": {**CHAT, "id": "nul"}}),  # NUL
    json.dumps({"timestamp": "2300-01-01T00:00:00Z", "response": {**CHAT, "id": "far"}}),
    json.dumps({"timestamp": 1762776000, "response": {**EMBED, "usage": {"prompt_tokens": 2**60}}}),
    json.dumps({"timestamp": 1762776000, "response": {**MESSAGE, "id": "m-big", "usage": {"input_tokens": 1e30}}}),
    '{"timestamp": 1762776000, "response": {"id": "nan", "object": "chat.completion", "model": "gpt-4o", '
    '"usage": {"prompt_tokens": NaN}}}',
]


@pytest.mark.parametrize("fmt", ["auto", "openai-jsonl", "anthropic-jsonl"])
def test_a_file_of_every_kind_stores_the_same_rows_and_quarantine_with_either_path(tmp_path, monkeypatch, fmt):
    rng = random.Random(11)
    lines = [mixed_line(i, rng) for i in range(400)]
    lines += [json.dumps(c) for c in SAME_CASES + EDGE_CASES] + BAD_LINES + ["", "   "]
    random.Random(3).shuffle(lines)
    path = tmp_path / "every-kind.jsonl"
    path.write_text("\n".join(lines) + "\n")
    defaults = {"org": "org-f", "project": "p"}

    fast = ingest([path], fmt, Defaults(**defaults))
    fast_rows, fast_quarantine = _stored()
    monkeypatch.setattr(ingest_module, "FastPath", _GeneralOnly)
    general = ingest([path], fmt, Defaults(**defaults))
    general_rows, general_quarantine = _stored()

    assert (fast.read, fast.ingested, fast.duplicate, fast.quarantined) == (
        general.read,
        general.ingested,
        general.duplicate,
        general.quarantined,
    )
    assert fast_rows == general_rows
    assert fast_quarantine == general_quarantine
    assert general.quarantined >= len(BAD_LINES)
    if fmt != "anthropic-jsonl":
        assert len(general_rows) > 300

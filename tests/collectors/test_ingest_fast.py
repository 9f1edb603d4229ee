"""The msgspec fast path gives exactly the general path's record, or declines the line."""

import json
import random

from bench.gen import line as generated_line
from collectors.logs.client import Item, Lines, read_jsonl
from collectors.logs.fast import FastPath
from collectors.logs.ingest import Defaults, _to_record
from models.pricing.catalog import get_catalog
from tests.collectors.test_ingest import BATCH, CHAT, RESPONSES, WRAPPED

EDGE_CASES = [
    CHAT,
    RESPONSES,
    {**CHAT, "id": " padded "},  # the general path rejects untrimmed ids
    {**CHAT, "id": ""},  # no id: the general path synthesizes one from content and line
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
    WRAPPED,  # an ISO time and an org of its own
    {**WRAPPED, "timestamp": 1762776000, "org": "org-other"},
    {**WRAPPED, "timestamp": 1762776000, "org": None, "project": " padded"},
    {**WRAPPED, "timestamp": 1762776000, "org": None, "created_at": 1762776000},
    {**WRAPPED, "timestamp": 1762776000, "org": None, "user": 42},
    {**WRAPPED, "timestamp": 1762776000.5, "org": None},
    {"timestamp": 1762776000, "response": {"body": {}, "object": "chat.completion"}},  # "body", no usage
    {**BATCH, "error": {"code": "x"}},
    {**BATCH, "response": {**BATCH["response"], "status_code": 500}},
    {**BATCH, "response": {"status_code": 200, "body": {**BATCH["response"]["body"], "id": ""}}},
    {**CHAT, "custom_id": "t1"},  # a batch line without its response
    {**CHAT, "response": {"id": "x"}},
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
]


def general_record(text: str, number: int, defaults, catalog):
    items = list(read_jsonl(_OneLine(text), None))  # no fast path
    item = items[0]
    if item.reject is not None:
        return "rejected"
    try:
        return _to_record(item, "jsonl", defaults, catalog)
    except Exception:
        return "rejected"


class _OneLine(Lines):
    def __init__(self, text):
        super().__init__(path=None)
        self.text = text

    def __iter__(self):
        self.position.line = 1
        yield self.text


def test_fast_path_matches_the_general_path():
    catalog, defaults = get_catalog(), Defaults(org="org-f", project="p")
    fast = FastPath("org-f", "p", catalog)
    rng = random.Random(5)
    lines = [generated_line(i, rng) + "\n" for i in range(3000)] + [json.dumps(c) + "\n" for c in EDGE_CASES]
    taken = 0
    for text in lines:
        ready = fast.record(text)
        if ready is None:
            continue
        taken += 1
        assert ready == general_record(text, 1, defaults, catalog), text
    assert taken == 3002  # CHAT, RESPONSES and every generated shape (bare, wrapped, batch) takes the fast path
    for case in SAME_CASES:
        text = json.dumps(case) + "\n"
        assert fast.record(text) is not None, case
        assert fast.record(text) == general_record(text, 1, defaults, catalog), case
    declined = [c for c in EDGE_CASES[2:] if fast.record(json.dumps(c) + "\n") is not None]
    assert declined == []


def test_no_org_means_no_fast_path():
    assert FastPath(None, None, get_catalog()).record(json.dumps(CHAT)) is None
    assert isinstance(FastPath("o", None, get_catalog()).record(json.dumps(CHAT)), list)
    assert Item(1, "").ready is None

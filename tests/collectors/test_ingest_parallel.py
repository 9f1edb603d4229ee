"""A big JSONL file is split across processes; the result is the same as reading it serially."""

import json

import pytest
from sqlalchemy import text

import collectors.logs.parallel as parallel
from collectors.logs.ingest import Defaults, ingest
from collectors.logs.parallel import Helpers, plan
from models.db import get_engine
from models.settings import reset_settings
from tests.collectors.test_ingest import CHAT


def write_log(path, n=3000, broken=(7, 1500, 2999)):
    with path.open("w") as fh:
        for i in range(1, n + 1):
            if i in broken:
                fh.write("{broken json\n")
            else:
                fh.write(
                    json.dumps({**CHAT, "id": f"chatcmpl-{i}", "usage": {"prompt_tokens": i, "completion_tokens": 1}})
                    + "\n"
                )
    return path


def test_plan_cuts_at_line_ends_and_counts_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(parallel, "BLOCK", 1000)  # cuts fall inside blocks and across them
    path = write_log(tmp_path / "x.jsonl", n=500, broken=())
    data = path.read_bytes()
    parts = plan(path, 7)
    assert parts[0].start == 0 and parts[-1].stop == len(data) and len(parts) == 7
    for part, following in zip(parts, parts[1:]):
        assert part.stop == following.start and data[following.start - 1 : following.start] == b"\n"
        assert following.line == data[: following.start].count(b"\n")


def test_parallel_ingest_equals_serial(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)  # 8 parts for 2 workers
    path = write_log(tmp_path / "big.jsonl")
    assert len(plan(path, 8)) == 8
    monkeypatch.setenv("SPENDSIGHT_INGEST_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("SPENDSIGHT_INGEST_WORKERS", "2")
    reset_settings()
    result = ingest([path], "auto", Defaults(org="org-par"))
    assert (result.read, result.ingested, result.duplicate, result.quarantined) == (3000, 2997, 0, 3)
    assert result.problems[0].startswith(f"{path}:7: json")
    with get_engine().connect() as conn:
        lines = [r[0] for r in conn.execute(text("SELECT line FROM quarantine ORDER BY line"))]
        tokens = conn.execute(text("SELECT SUM(input_tokens), SUM(requests) FROM rollup_daily")).one()
    assert lines == [7, 1500, 2999]
    assert tuple(tokens) == (sum(range(1, 3001)) - 7 - 1500 - 2999, 2997)
    again = ingest([path], "auto", Defaults(org="org-par"))
    assert (again.ingested, again.duplicate, again.quarantined) == (0, 2997, 3)


def test_helpers_start_only_for_big_jsonl_files(tmp_path, monkeypatch):
    big = write_log(tmp_path / "big.jsonl", n=200, broken=())
    small = write_log(tmp_path / "small.jsonl", n=2, broken=())
    csv = tmp_path / "big.csv"
    csv.write_text("timestamp,input_tokens\n" + "2025-11-10T00:00:00Z,5\n" * 2000)
    monkeypatch.setenv("SPENDSIGHT_INGEST_PARALLEL_MIN_BYTES", str(small.stat().st_size + 1))
    monkeypatch.setenv("SPENDSIGHT_INGEST_WORKERS", "3")
    reset_settings()
    assert Helpers.for_paths([small, csv, tmp_path / "missing.jsonl"], "auto") is None
    assert Helpers.for_paths([big], "csv") is None
    helpers = Helpers.for_paths([small, big], "auto")
    assert len(helpers) == 2
    assert helpers.close() == []
    monkeypatch.setenv("SPENDSIGHT_INGEST_WORKERS", "1")
    reset_settings()
    assert Helpers.for_paths([big], "auto") is None


def test_the_command_line_reads_every_range_with_its_helpers(cli, tmp_path, monkeypatch):
    path = write_log(tmp_path / "big.jsonl")
    other = write_log(tmp_path / "other.jsonl", n=1000, broken=())
    other.write_text(other.read_text().replace('"chatcmpl-', '"chatcmpl-o'))  # ids of its own
    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)
    monkeypatch.setenv("SPENDSIGHT_INGEST_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("SPENDSIGHT_INGEST_WORKERS", "3")
    reset_settings()
    code, out, err = cli("ingest", path, other, "--org", "org-cli")  # the same helpers serve both files
    assert code == 3  # some lines were quarantined
    assert out.strip() == "read=4000 ingested=3997 duplicate=0 quarantined=3"
    assert [line.split(": ")[0] for line in err.splitlines() if line.startswith("quarantined")] == [
        f"quarantined {path}:7",
        f"quarantined {path}:1500",
        f"quarantined {path}:2999",
    ]
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT COUNT(*), SUM(input_tokens) FROM usage")).one() == (
            3997,
            sum(range(1, 3001)) - 7 - 1500 - 2999 + sum(range(1, 1001)),
        )
        assert conn.execute(text("SELECT SUM(input_tokens) FROM rollup_daily")).scalar_one() == (
            sum(range(1, 3001)) - 7 - 1500 - 2999 + sum(range(1, 1001))
        )


def test_a_helper_that_dies_fails_the_ingest_and_keeps_what_was_stored(tmp_path, monkeypatch):
    path = write_log(tmp_path / "big.jsonl", broken=())
    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)
    monkeypatch.setenv("SPENDSIGHT_INGEST_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("SPENDSIGHT_INGEST_WORKERS", "2")
    reset_settings()
    python = parallel.sys.executable
    monkeypatch.setattr(parallel.sys, "executable", "/bin/false")  # helpers that exit at once
    with pytest.raises(RuntimeError, match="a parallel ingest process failed"):
        ingest([path], "auto", Defaults(org="org-die"))
    with get_engine().connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM usage")).scalar_one()
    assert stored == plan(path, 2)[1].line  # this process's own range, the first half, and no more
    monkeypatch.setattr(parallel.sys, "executable", python)
    again = ingest([path], "auto", Defaults(org="org-die"))
    assert (again.read, again.ingested + again.duplicate, again.duplicate) == (3000, 3000, stored)

"""A big JSONL file is split across processes; the result is the same as reading it serially."""

import json

from sqlalchemy import text

from collectors.logs import Defaults, ingest
from collectors.logs.parallel import plan
from models.db import get_engine
from models.settings import reset_settings
from tests.test_ingest import CHAT


def write_log(path, n=3000, broken=(7, 1500, 2999)):
    with path.open("w") as fh:
        for i in range(1, n + 1):
            if i in broken:
                fh.write("{broken json\n")
            else:
                fh.write(json.dumps({**CHAT, "id": f"chatcmpl-{i}", "usage": {"prompt_tokens": i, "completion_tokens": 1}}) + "\n")
    return path


def test_plan_cuts_at_line_ends_and_counts_lines(tmp_path, monkeypatch):
    import collectors.logs.parallel as parallel

    monkeypatch.setattr(parallel, "MIN_PART_BYTES", 1)
    monkeypatch.setattr(parallel, "BLOCK", 1000)  # cuts fall inside blocks and across them
    path = write_log(tmp_path / "x.jsonl", n=500, broken=())
    data = path.read_bytes()
    parts = plan(path, 7)
    assert parts[0].start == 0 and parts[-1].stop == len(data) and len(parts) == 7
    for part, following in zip(parts, parts[1:]):
        assert part.stop == following.start and data[following.start - 1:following.start] == b"\n"
        assert following.line == data[:following.start].count(b"\n")


def test_parallel_ingest_equals_serial(tmp_path, monkeypatch):
    import collectors.logs.parallel as parallel

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

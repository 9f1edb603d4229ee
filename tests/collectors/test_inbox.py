"""The worker's inbox: appended lines are ingested once, half-written lines wait, rotation restarts."""

import json

from sqlalchemy import text

from collectors.logs.watch import scan
from models.db import get_engine
from tests.collectors.test_ingest import CHAT


def line(i: int, **extra) -> str:
    return json.dumps({**CHAT, "id": f"chatcmpl-{i}", **extra}) + "\n"


def count(sql="SELECT COUNT(*), COALESCE(SUM(input_tokens), 0) FROM usage"):
    with get_engine().connect() as conn:
        return tuple(conn.execute(text(sql)).one())


def test_tails_appended_lines_once_and_waits_for_a_complete_line(env):
    folder = env / "inbox" / "org-tail" / "chat"
    folder.mkdir(parents=True)
    log = folder / "app.jsonl"
    log.write_text(line(1) + line(2))
    assert scan(env / "inbox").ingested == 2
    assert scan(env / "inbox").read == 0  # nothing new: nothing re-read
    with log.open("a") as fh:
        fh.write(line(3) + line(4)[:40])  # the writer is mid-line
    assert scan(env / "inbox").ingested == 1
    with log.open("a") as fh:
        fh.write(line(4)[40:])
    assert scan(env / "inbox").ingested == 1
    assert count() == (4, 4000)
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT org_id, project_id FROM usage")).all()
    assert [tuple(r) for r in rows] == [("org-tail", "chat")]
    # the rollups followed
    assert count("SELECT SUM(requests), SUM(input_tokens) FROM rollup_daily") == (4, 4000)


def test_rotated_file_is_read_from_the_start_without_double_counting(env):
    folder = env / "inbox" / "org-rot"
    folder.mkdir(parents=True)
    log = folder / "app.jsonl"
    log.write_text(line(1) + line(2) + line(3))
    scan(env / "inbox")
    log.write_text(line(4))  # rotated: smaller, different first line
    result = scan(env / "inbox")
    assert (result.ingested, result.duplicate) == (1, 0)
    assert count()[0] == 4


def test_bad_lines_are_quarantined_and_skipped(env):
    folder = env / "inbox" / "org-bad"
    folder.mkdir(parents=True)
    (folder / "app.jsonl").write_text(line(1) + "{oops\n" + line(2))
    result = scan(env / "inbox")
    assert (result.ingested, result.quarantined) == (2, 1)
    assert scan(env / "inbox").quarantined == 0

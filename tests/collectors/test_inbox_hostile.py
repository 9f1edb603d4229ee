"""The inbox under hostile files: each bad file is recorded on its own row and skipped, and every
other org's files are still read on the same pass."""

from __future__ import annotations

import json
import os

from sqlalchemy import text

from collectors.logs.watch import scan
from models.db import get_engine
from tests.collectors.test_ingest import CHAT


def line(i: int) -> str:
    return json.dumps({**CHAT, "id": f"chatcmpl-{i}"}) + "\n"


def rows(sql: str):
    with get_engine().connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_bad_files_are_recorded_and_skipped_and_other_orgs_still_read(env):
    inbox = env / "inbox"
    bad_org, good_org = inbox / "org-a", inbox / "org-b"
    bad_org.mkdir(parents=True)
    good_org.mkdir()
    (bad_org / "binary.log").write_bytes(bytes(range(256)) * 8)
    (bad_org / "mixed.jsonl").write_text(line(1) + '{"id": "x\\u0000", "model": 1}\n' + line(2))
    # A file name that is not UTF-8 (bytes straight from the file system).
    os.close(os.open(os.fsencode(bad_org) + b"/caf\xe9.jsonl", os.O_CREAT | os.O_WRONLY, 0o644))
    with open(os.fsencode(bad_org) + b"/caf\xe9.jsonl", "w") as fh:
        fh.write(line(3))
    (inbox / "not an org!").mkdir()
    (inbox / "not an org!" / "app.jsonl").write_text(line(4))
    (good_org / "app.jsonl").write_text(line(5) + line(6))

    result = scan(inbox)
    assert (result.ingested, result.quarantined) == (5, 1)
    stored = rows("SELECT org_id, request_id FROM usage ORDER BY request_id")
    assert stored == [
        ("org-a", "chatcmpl-1"),
        ("org-a", "chatcmpl-2"),
        ("org-a", "chatcmpl-3"),
        ("org-b", "chatcmpl-5"),
        ("org-b", "chatcmpl-6"),
    ]
    files = {
        "/".join(path.rsplit("/", 2)[1:]): error for path, error in rows("SELECT path, last_error FROM inbox_file")
    }
    assert "binary file" in files["org-a/binary.log"]
    assert "organization id" in files["not an org!/app.jsonl"]
    assert files["org-a/caf\\udce9.jsonl"] == ""  # read, and its name kept as storable text
    assert files["org-a/mixed.jsonl"] == files["org-b/app.jsonl"] == ""
    assert rows("SELECT line FROM quarantine") == [(2,)]
    # The next pass reads nothing again and fails the same way without stopping.
    again = scan(inbox)
    assert (again.ingested, again.quarantined) == (0, 0)

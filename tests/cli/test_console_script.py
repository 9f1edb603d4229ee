"""The installed `spendsight` script (cli.run): exit codes and messages as the command line documents them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.factories import make_org

SCRIPT = str(Path(sys.executable).parent / "spendsight")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120)


def test_ingest_through_the_script_keeps_its_exit_code_and_lines(tmp_path):
    make_org("org-c")
    log = tmp_path / "log.jsonl"
    good = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1790000000,
        "model": "gpt-4o-mini",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    log.write_text(json.dumps(good) + "\n" + '{"id": "chatcmpl-2", "usage": "nan"}\n')
    out = _run("ingest", str(log), "--org", "org-c")
    assert out.returncode == 3, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "read=2 ingested=1 duplicate=0 quarantined=1"
    assert "log.jsonl:2" in out.stderr and "Traceback" not in out.stderr
    out = _run("ingest", str(log), "--org", "org-c")
    assert out.stdout.strip().splitlines()[-1] == "read=2 ingested=0 duplicate=1 quarantined=1"


def test_bad_input_through_the_script_exits_2_without_a_traceback(tmp_path):
    out = _run("ingest", str(tmp_path / "missing.jsonl"), "--org", "org-c")
    assert out.returncode == 2
    assert "no such file" in out.stderr and "Traceback" not in out.stderr

"""The worker's inbox: request logs dropped into `<data dir>/inbox/<org-id>/[<project>/]` are tailed.

Each pass reads only what was appended since the last complete line it saw, so a log that an
application keeps writing shows up on the dashboard (and in alerts) within seconds.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from sqlmodel import Session

from collectors.base import printable_path, storable
from collectors.logs.client import Lines, Position, UsageError, check_readable, first_line
from collectors.logs.ingest import Defaults, IngestResult, ingest_lines
from models.access.orgs import validate_org_id
from models.db import get_engine, utcnow
from models.spend.rollups import process_dirty
from models.tables import InboxFile
from models.validation import ValidationError, validate_project

log = logging.getLogger("spendsight.inbox")
SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".log")


def inbox_files(root: Path) -> list[tuple[Path, str, str | None]]:
    """(file, org id, project) for every log under root/<org>/ or root/<org>/<project>/."""
    found: list[tuple[Path, str, str | None]] = []
    if not root.is_dir():
        return found
    for org_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(org_dir.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in SUFFIXES:
                continue
            relative = path.relative_to(org_dir).parts
            project = relative[0] if len(relative) > 1 else None
            found.append((path, org_dir.name, project))
    return found


def _head_sha(path: Path) -> str:
    return hashlib.sha256(first_line(path).encode()).hexdigest()


def scan(root: Path) -> IngestResult:
    """Ingest what was appended to every inbox file since the last pass; returns the totals.

    A file that fails (unreadable, binary, a name that is not UTF-8, a database error on its
    batch) has the error recorded on its own row and is skipped: every other file, and every other
    org's, is still read on the same pass.
    """
    result = IngestResult()
    for path, org, project in inbox_files(root):
        try:
            _scan_file(path, org, project, result)
        except Exception as exc:  # noqa: BLE001 (one file's failure is recorded on it, never stops the pass)
            log.warning("inbox file %s: %s", printable_path(path), exc)
            _record_error(path, org, f"{type(exc).__name__}: {exc}")
    if result.orgs_touched:
        process_dirty()
    return result


def _key(path: Path) -> str:
    """The file's row key: its full path as storable text, hashed down when longer than the column."""
    key = printable_path(path.resolve())
    if len(key) > 1000:
        key = key[:935] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _scan_file(path: Path, org: str, project: str | None, result: IngestResult) -> None:
    engine = get_engine()
    key = _key(path)
    with Session(engine) as session:
        state = session.get(InboxFile, key) or InboxFile(path=key, org_id=storable(org)[:100])
        size = path.stat().st_size
        head = _head_sha(path) if size else ""
        if size < state.offset or (state.head_sha and head != state.head_sha):
            state.offset, state.line = 0, 0  # truncated or rotated: read it again (ids dedupe)
        if size == state.offset:
            return
        try:
            org_id = validate_org_id(org)
            if project is not None:
                project = validate_project(project)
            check_readable(path)
            lines = Lines(path, start=_position(state), complete_only=True)
            before = (result.ingested, result.quarantined)
            ingest_lines(lines, "auto", Defaults(org=org_id, project=project), None, result)
            state.offset, state.line = lines.position.offset, lines.position.line
            state.ingested += result.ingested - before[0]
            state.quarantined += result.quarantined - before[1]
            state.last_error = ""
        except (UsageError, ValidationError) as exc:
            state.last_error = storable(str(exc))[:1000]
            log.warning("inbox file %s: %s", printable_path(path), exc)
        state.head_sha = head
        state.updated_at = utcnow()
        session.add(state)
        session.commit()


def _record_error(path: Path, org: str, message: str) -> None:
    """Keep an unexpected failure on the file's row (best effort: the database may be what failed)."""
    try:
        key = _key(path)
        with Session(get_engine()) as session:
            state = session.get(InboxFile, key) or InboxFile(path=key, org_id=storable(org)[:100])
            state.last_error = storable(message)[:1000]
            state.updated_at = utcnow()
            session.add(state)
            session.commit()
    except Exception:  # noqa: BLE001
        log.exception("could not record the inbox error of %s", printable_path(path))


def _position(state: InboxFile) -> Position:
    return Position(state.offset, state.line)

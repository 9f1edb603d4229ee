"""Parallel ingest of a large JSONL file: byte ranges cut at line ends, one process per range.

Parsing JSON in Python costs about as much per line as SQLite or PostgreSQL spend storing the row,
so a big file is split across the machine's cores: the calling process reads the first range and
helper processes the rest; each streams its range in batches and writes in its own transactions
(request ids make overlapping work harmless). CSV stays serial: a quoted field may span lines, so a
byte offset is not a safe place to cut.

Helpers are plain interpreters (`python -m collectors.logs.parallel`), not multiprocessing:
multiprocessing re-runs the parent's `__main__` in each child, and under Streamlit or a test runner
that is not a module that is safe to re-run. A helper imports the ingest code as soon as it starts
and then reads requests (a file, a range, the command line's defaults) as JSON lines on stdin, so
the command line can start helpers before its own imports and they are ready when it is. This
module imports only the standard library at the top for the same reason: the ingest code takes about
0.5 s to import (cli/ingest.py), and each function that needs it imports it (`# lazy`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only: nothing beyond the standard library loads at run time
    from collectors.logs.ingest import Defaults, IngestResult

BLOCK = 1 << 20
MIN_PART_BYTES = 8 << 20
PROGRESS_EVERY = 4 << 20


@dataclass(frozen=True)
class Part:
    start: int  # byte offset of the first line
    line: int  # number of lines before it
    stop: int  # byte offset where the next part starts


def plan(path: Path, parts: int) -> list[Part]:
    """Cut the file into about `parts` ranges at line ends, counting lines on the way (C-speed scan)."""
    size = path.stat().st_size
    parts = max(1, min(parts, size // MIN_PART_BYTES or 1))
    targets = [size * i // parts for i in range(1, parts)]
    cuts: list[tuple[int, int]] = [(0, 0)]
    offset = lines = 0
    with path.open("rb") as fh:
        while targets:
            block = fh.read(BLOCK)
            if not block:
                break
            while targets and offset + len(block) > targets[0]:
                newline = block.find(b"\n", max(targets[0] - offset, 0))
                if newline < 0:
                    break  # the line continues into the next block
                cut = offset + newline + 1
                cuts.append((cut, lines + block.count(b"\n", 0, newline + 1)))
                while targets and targets[0] < cut:
                    targets.pop(0)
            lines += block.count(b"\n")
            offset += len(block)
    cuts = sorted(set(c for c in cuts if c[0] < size)) or [(0, 0)]
    stops = [c[0] for c in cuts[1:]] + [size]
    return [Part(start, line, stop) for (start, line), stop in zip(cuts, stops)]


def workers() -> int:
    from models.settings import get_settings  # lazy: see the module docstring

    return get_settings().ingest.workers or os.cpu_count() or 1


def splittable(path: Path, fmt: str) -> bool:
    """Whether `path` is read in parallel: JSONL (by --format or by its first character), big, not gzip."""
    from models.settings import get_settings  # lazy: see the module docstring

    try:
        if path.suffix == ".gz" or path.stat().st_size < get_settings().ingest.parallel_min_bytes:
            return False
    except OSError:
        return False
    if fmt != "auto":
        return fmt.endswith("jsonl")
    if path.name.lower().endswith(".csv"):
        return False
    with path.open("rb") as fh:
        return fh.read(4096).lstrip()[:1] == b"{"  # what collectors.logs.client.detect_format calls JSONL


class Helpers:
    """Helper processes, started ahead of need; each is handed one range at a time."""

    def __init__(self, count: int) -> None:
        self._errors = [tempfile.TemporaryFile("w+") for _ in range(count)]  # never a full pipe
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-m", "collectors.logs.parallel"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            for stderr in self._errors
        ]

    @classmethod
    def for_paths(cls, paths: Iterable[str | Path], fmt: str) -> Helpers | None:
        """Helpers when some file will be read in parallel (the command line starts them first thing)."""
        count = workers() - 1
        if count < 1 or not any(splittable(Path(p), fmt) for p in paths):
            return None
        return cls(count)

    def __len__(self) -> int:
        return len(self._procs)

    def close(self) -> list[str]:
        """Let the helpers finish and exit; returns the last stderr line of each that failed."""
        failures = []
        for proc, stderr in zip(self._procs, self._errors):
            assert proc.stdin is not None and proc.stdout is not None  # (started with PIPEs)
            try:
                proc.stdin.close()
            except OSError:
                pass
            proc.wait()
            proc.stdout.close()
            stderr.seek(0)
            last = stderr.read().strip().splitlines()[-1:]
            stderr.close()
            if proc.returncode != 0:
                failures.append(last[0] if last else f"exit {proc.returncode}")
        self._procs, self._errors = [], []
        return failures

    def kill(self) -> None:
        for proc in self._procs:
            proc.kill()
        self.close()

    def ingest(
        self,
        path: Path,
        fmt: str,
        defaults: Defaults,
        result: IngestResult,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        """Ingest `path`: this process reads the first range, helpers the others; counts go to `result`."""
        # lazy: see the module docstring
        from collectors.logs.client import Lines, Position
        from collectors.logs.ingest import ingest_lines

        parts = plan(path, len(self) + 1)
        lock = threading.Lock()
        answers: list[dict[str, Any] | None] = [None] * len(parts)
        failures: list[str] = []

        def report(n: int) -> None:
            if on_bytes:
                with lock:
                    on_bytes(n)

        def drive(i: int, proc: subprocess.Popen[str]) -> None:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                request = {"path": str(path), "part": asdict(parts[i]), "fmt": fmt, "defaults": _encode(defaults)}
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                for line in proc.stdout:
                    message = json.loads(line)
                    if "bytes" in message:
                        report(message["bytes"])
                    else:
                        answers[i] = message
                        return
                raise RuntimeError("the helper ended in the middle of its range")
            except Exception as exc:  # a dead helper (broken pipe, early end of output) or a garbled answer
                failures.append(f"{type(exc).__name__}: {exc}")

        drivers = [
            threading.Thread(target=drive, args=(i, proc), daemon=True)
            for i, proc in enumerate(self._procs[: len(parts) - 1], start=1)
        ]
        for driver in drivers:
            driver.start()
        first = parts[0]
        try:
            with _batched(report) as sized:
                ingest_lines(
                    Lines(path, start=Position(first.start, first.line), stop=first.stop, sized=sized),
                    fmt,
                    defaults,
                    None,
                    result,
                )
        except BaseException:
            self.kill()
            raise
        for driver in drivers:
            driver.join()
        if failures or any(answer is None for answer in answers[1:]):
            failures = self.close() + failures
            raise RuntimeError(f"{path}: a parallel ingest process failed: {failures[0] if failures else 'no answer'}")
        for answer in answers[1:]:
            assert answer is not None  # (checked above)
            _merge(result, answer)


def _encode(defaults: Defaults) -> dict[str, str | None]:
    return {
        "org": defaults.org,
        "project": defaults.project,
        "model": defaults.model,
        "at": defaults.at.isoformat() if defaults.at else None,
    }


@contextmanager
def _batched(report: Callable[[int], None]) -> Iterator[Callable[[int], None]]:
    """A per-line byte counter that passes totals on every few MiB (and the rest at the end)."""
    pending = [0]

    def sized(n: int) -> None:
        pending[0] += n
        if pending[0] >= PROGRESS_EVERY:
            report(pending[0])
            pending[0] = 0

    yield sized
    if pending[0]:
        report(pending[0])


def _merge(result: IngestResult, part: Mapping[str, Any]) -> None:
    result.read += part["read"]
    result.ingested += part["ingested"]
    result.duplicate += part["duplicate"]
    result.quarantined += part["quarantined"]
    result.orgs_created += [o for o in part["orgs_created"] if o not in result.orgs_created]
    result.orgs_touched |= set(part["orgs_touched"])
    result.problems = sorted(result.problems + part["problems"], key=_problem_order)[:5]


def _problem_order(problem: str) -> tuple[str, int]:
    """Problems read "file:line: field: reason"; order them by file, then line."""
    name, _, number = problem.partition(": ")[0].rpartition(":")
    return (name, int(number) if number.isdigit() else 0)


def _helper() -> None:
    """In a helper process: import the ingest code now, then ingest each range asked for on stdin."""
    # lazy: a helper starts before the command line's own imports and loads the ingest code (~0.5 s)
    # while the command line loads it too.
    from collectors.logs.client import Lines, Position
    from collectors.logs.ingest import Defaults, IngestResult, ingest_lines
    from models.db import dispose_engines

    for request in sys.stdin:
        request = json.loads(request)
        part, given = Part(**request["part"]), request["defaults"]
        at = datetime.fromisoformat(given["at"]) if given["at"] else None
        defaults = Defaults(org=given["org"], project=given["project"], model=given["model"], at=at)
        result = IngestResult()
        with _batched(lambda n: print(json.dumps({"bytes": n}), flush=True)) as sized:
            lines = Lines(Path(request["path"]), start=Position(part.start, part.line), stop=part.stop, sized=sized)
            ingest_lines(lines, request["fmt"], defaults, None, result)
        print(
            json.dumps(
                {
                    "read": result.read,
                    "ingested": result.ingested,
                    "duplicate": result.duplicate,
                    "quarantined": result.quarantined,
                    "orgs_created": result.orgs_created,
                    "orgs_touched": sorted(result.orgs_touched),
                    "problems": result.problems,
                }
            ),
            flush=True,
        )
    dispose_engines()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _helper()
    # Everything is written and committed; tearing down the interpreter's modules would keep the
    # command line waiting a tenth of a second more (multiprocessing's children end this way too).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

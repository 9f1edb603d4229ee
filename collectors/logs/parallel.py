"""Parallel ingest of a large JSONL file: byte ranges cut at line ends, one process per range.

Parsing JSON in Python costs about as much per line as SQLite or PostgreSQL spend storing the row,
so a big file is split across the machine's cores: the calling process reads the first range and
child processes the rest; each streams its range in batches and writes in its own transactions
(request ids make overlapping work harmless). CSV stays serial: a quoted
field may span lines, so a byte offset is not a safe place to cut.

The ranges run in plain child interpreters (`python -m collectors.logs.parallel ...`), not through
multiprocessing: multiprocessing re-runs the parent's `__main__` in each child, and under Streamlit
or a test runner that is not a module that is safe to re-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from collectors.logs.client import Lines, Position

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


def ingest_parallel(path: Path, fmt: str, defaults, result, workers: int, on_bytes=None) -> None:
    """Ingest `path` in up to `workers` ranges, adding their counts to `result`.

    This process reads the first range itself while child processes read the others: it has its
    imports and database connection already, where a child spends its first half second starting.
    """
    from collectors.logs import ingest_lines

    parts = plan(path, workers)
    args = {"fmt": fmt, "org": defaults.org, "project": defaults.project, "model": defaults.model,
            "at": defaults.at.isoformat() if defaults.at else None}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "collectors.logs.parallel", str(path), json.dumps(asdict(part)), json.dumps(args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for part in parts[1:]
    ]
    outputs: list[dict | None] = [None] * len(children)
    lock = threading.Lock()

    def report(n: int) -> None:
        if on_bytes:
            with lock:
                on_bytes(n)

    def follow(i: int, child: subprocess.Popen) -> None:
        for line in child.stdout:
            message = json.loads(line)
            if "bytes" in message:
                report(message["bytes"])
            else:
                outputs[i] = message

    readers = [threading.Thread(target=follow, args=(i, c), daemon=True) for i, c in enumerate(children)]
    for reader in readers:
        reader.start()
    first = parts[0]
    try:
        with _batched(report) as sized:
            ingest_lines(Lines(path, start=Position(first.start, first.line), stop=first.stop, sized=sized),
                         fmt, defaults, None, result)
    except BaseException:
        for child in children:
            child.kill()
        raise
    finally:
        errors = []
        for i, (child, reader) in enumerate(zip(children, readers)):
            stderr = child.stderr.read()
            child.wait()
            reader.join()
            child.stdout.close()
            child.stderr.close()
            if child.returncode != 0 or outputs[i] is None:
                errors.append(stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {child.returncode}")
    for output in outputs:
        if output:
            _merge(result, output)
    if errors:
        raise RuntimeError(f"{path}: a parallel ingest process failed: {errors[0]}")


@contextmanager
def _batched(report):
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


def _merge(result, part: dict) -> None:
    result.read += part["read"]
    result.ingested += part["ingested"]
    result.duplicate += part["duplicate"]
    result.quarantined += part["quarantined"]
    result.orgs_created += [o for o in part["orgs_created"] if o not in result.orgs_created]
    result.orgs_touched |= set(part["orgs_touched"])
    result.problems = sorted(result.problems + part["problems"], key=_problem_order)[:5]


def _problem_order(problem: str):
    """Problems read "file:line: field: reason"; order them by file, then line."""
    name, _, number = problem.partition(": ")[0].rpartition(":")
    return (name, int(number) if number.isdigit() else 0)


def _child(path: str, part_json: str, args_json: str) -> None:
    """In a child process: ingest one range, print progress lines and then the result as JSON."""
    from collectors.logs import Defaults, IngestResult, ingest_lines

    part, args = Part(**json.loads(part_json)), json.loads(args_json)
    at = datetime.fromisoformat(args["at"]) if args["at"] else None
    defaults = Defaults(org=args["org"], project=args["project"], model=args["model"], at=at)
    result = IngestResult()
    with _batched(lambda n: print(json.dumps({"bytes": n}), flush=True)) as sized:
        lines = Lines(Path(path), start=Position(part.start, part.line), stop=part.stop, sized=sized)
        ingest_lines(lines, args["fmt"], defaults, None, result)
    print(json.dumps({
        "read": result.read, "ingested": result.ingested, "duplicate": result.duplicate,
        "quarantined": result.quarantined, "orgs_created": result.orgs_created,
        "orgs_touched": sorted(result.orgs_touched), "problems": result.problems,
    }), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    _child(*sys.argv[1:4])

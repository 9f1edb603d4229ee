"""Parallel ingest of a large JSONL file: byte ranges cut at line ends, one process per range.

Parsing JSON in Python costs more per line than SQLite or PostgreSQL spend storing the row, so a
big file is split across the machine's cores; each process streams its range in batches and writes
in its own transactions (request ids make overlapping work harmless). CSV stays serial: a quoted
field may span lines, so a byte offset is not a safe place to cut.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from collectors.logs.client import Lines, Position

BLOCK = 1 << 20
MIN_PART_BYTES = 8 << 20


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
                cut_at = max(targets[0] - offset, 0)
                newline = block.find(b"\n", cut_at)
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


def _run_part(path: str, part: Part, fmt: str, defaults, env: dict):
    """In a child process: ingest one range; returns its IngestResult."""
    os.environ.update(env)
    from collectors.logs import IngestResult, ingest_lines
    from models.db import dispose_engines
    from models.settings import reset_settings

    reset_settings()
    dispose_engines()
    result = IngestResult()
    ingest_lines(Lines(Path(path), start=Position(part.start, part.line), stop=part.stop), fmt, defaults, None, result)
    return result


def ingest_parallel(path: Path, fmt: str, defaults, result, workers: int, on_bytes=None) -> None:
    """Ingest `path` with `workers` processes, adding their counts to `result`."""
    parts = plan(path, workers * 4)  # more parts than workers: even load and a smoother progress bar
    env = {k: v for k, v in os.environ.items() if k.startswith("SPENDSIGHT_") or k == "DATABASE_URL"}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["collectors.logs"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_part, str(path), part, fmt, defaults, env): part for part in parts}
        for future in as_completed(futures):
            part_result = future.result()
            part = futures[future]
            if on_bytes:
                on_bytes(part.stop - part.start)
            result.read += part_result.read
            result.ingested += part_result.ingested
            result.duplicate += part_result.duplicate
            result.quarantined += part_result.quarantined
            result.orgs_created += [o for o in part_result.orgs_created if o not in result.orgs_created]
            result.orgs_touched |= part_result.orgs_touched
            result.problems = sorted(result.problems + part_result.problems, key=_problem_order)[:5]


def _problem_order(problem: str):
    name, _, rest = problem.partition(":")
    number = rest.partition(":")[0]
    return (name, int(number) if number.isdigit() else 0)

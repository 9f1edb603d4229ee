"""Peak memory of `spendsight ingest` on a 2 GiB JSONL file (bench/gen.py lines).

A file this large is parsed in parallel (collectors/logs/parallel.py): the command itself reads the
first byte range and a helper process per further core reads the others, each streaming in
batches. This script starts the real command line and watches its
process tree through /proc every 20 ms, keeping each process's VmHWM (the kernel's own peak-RSS
mark, so a short spike between two looks is not missed while the process lives). After the
command exits, wait4's resource usage gives the largest peak of any process in the tree as a
cross-check. The figure that counts is the sum of the peaks: what the machine needs if every
process peaked at once. Target: under 300 MB.

    .venv/bin/python bench/memory.py              # 2 GiB
    .venv/bin/python bench/memory.py --mb 256     # a smaller file, e.g. for a quick look
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.gen import line, write_jsonl  # noqa: E402

TARGET_MB = 300
MB = 1_000_000


def lines_for(size: int) -> int:
    """How many bench/gen.py lines make about `size` bytes (from the first 20,000 lines' average)."""
    import random

    rng = random.Random(1)
    sample = sum(len(line(i, rng)) + 1 for i in range(20_000))
    return int(size / (sample / 20_000)) + 1


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def status(pid: int) -> tuple[int, str] | None:
    """(VmHWM in bytes, command) of a live process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            hwm = next((int(row.split()[1]) * 1024 for row in fh if row.startswith("VmHWM:")), 0)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            command = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        return hwm, command
    except (OSError, StopIteration, ValueError):
        return None


class Watcher(threading.Thread):
    """Samples the peak RSS of a process and all its descendants until told to stop."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[int, tuple[int, str]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            todo = [self.root]
            while todo:
                pid = todo.pop()
                seen = status(pid)
                if seen is not None:
                    old = self.peaks.get(pid, (0, ""))
                    self.peaks[pid] = (max(old[0], seen[0]), seen[1] or old[1])
                todo += children_of(pid)
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=2048, help="file size in MiB (default 2048: 2 GiB)")
    args = parser.parse_args()
    size = int(args.mb * 2**20)
    work = Path(tempfile.mkdtemp(prefix="spendsight-bench-memory-"))
    try:
        n = lines_for(size)
        started = time.perf_counter()
        path = write_jsonl(work / "requests.jsonl", n)
        print(
            f"memory: {n:,} JSONL lines, {path.stat().st_size / 2**20:,.0f} MiB "
            f"(written in {time.perf_counter() - started:.0f} s), {os.cpu_count()} cores",
            flush=True,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSIGHT_") and k != "DATABASE_URL"}
        env["SPENDSIGHT_DATA_DIR"] = str(work / "data")
        subprocess.run([str(REPO / ".venv/bin/spendsight"), "init"], env=env, capture_output=True, check=True)
        started = time.perf_counter()
        with open(work / "out.txt", "w") as out, open(work / "err.txt", "w") as err:
            proc = subprocess.Popen(
                [str(REPO / ".venv/bin/spendsight"), "ingest", str(path), "--org", "bench"],
                env=env,
                stdout=out,
                stderr=err,
            )
            watcher = Watcher(proc.pid)
            watcher.start()
            # wait4's usage covers the process and every descendant it waited for (Linux RUSAGE_BOTH).
            _, code, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(code)
        elapsed = time.perf_counter() - started
        watcher.done.set()
        watcher.join()
        out, err = (work / "out.txt").read_text(), (work / "err.txt").read_text()
        if proc.returncode != 0:
            raise SystemExit(f"ingest failed ({proc.returncode}): {err.strip()[-2000:]}")
        largest = usage.ru_maxrss * 1024
        print("   ", out.strip().splitlines()[-1], f"in {elapsed:.0f} s ({n / elapsed:,.0f} rows/s)")
        parent = watcher.peaks.pop(proc.pid, (0, ""))[0]
        children = sorted(watcher.peaks.items())
        print(f"    parent (spendsight ingest): peak RSS {parent / MB:.0f} MB")
        for i, (_pid, (peak, command)) in enumerate(children, start=1):
            what = "range helper" if "collectors.logs.parallel" in command else command[:60]
            print(f"    child {i} ({what}): peak RSS {peak / MB:.0f} MB")
        total = parent + sum(peak for peak, _ in watcher.peaks.values())
        print(f"    sum of peaks: {total / MB:.0f} MB; largest single process by getrusage: {largest / MB:.0f} MB")
        print(f"RATIO memory sum-of-peaks/{TARGET_MB} MB = {total / MB / TARGET_MB:.2f} (target < 1.00)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

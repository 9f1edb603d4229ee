"""The page queries alone (no Streamlit): each bench/pages.py page view's reads, timed on the kept databases.

bench/pages.py times whole pages in AppTest, where a page's own queries are a fraction of the run and
a busy machine moves the wall time by 2x; this times only the models' calls a page view makes (the
home page's overview; the explorer's filter choices, its explore() and its chart colours), best of
--trials CPU and wall time after a warm-up, on the databases `bench/pages.py --keep` left in
/tmp/spendsight-bench-pages, so a change to the queries can be measured in seconds. The org and the
explorer's settings are what the pages show a signed-in owner by default (the first org by name).

    .venv/bin/python bench/page_queries.py                       # 200k and 10M, every view
    .venv/bin/python bench/page_queries.py --sizes 10M --profile explorer   # cProfile one view
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.pages import ORGS, label, parse_size, sqlite_kept  # noqa: E402

# The org a signed-in owner of every bench org sees first: the sidebar lists orgs by name.
ORG_ID, _, _, ZONE, _ = min(ORGS, key=lambda o: (o[1].lower(), o[0]))


def views(today: date) -> dict[str, list[tuple[str, Callable[[], object]]]]:
    """Each page view as the model calls it makes (the ui/queries.py wrappers' targets)."""
    from models.spend.explore import dimension_values, explore, first_seen, period
    from models.spend.overview import overview

    orgs = (ORG_ID,)
    month = period("this_month", today)
    days90 = period("last_90", today)
    return {
        "home": [("overview", lambda: overview(ORG_ID, today))],
        "explorer": [
            ("choices", lambda: dimension_values(orgs, *month)),
            ("explore", lambda: explore(orgs, *month, ("project",), "day")),
            ("colors", lambda: first_seen(orgs, "project")),
        ],
        "explorer-90d": [
            ("choices", lambda: dimension_values(orgs, *days90)),
            ("explore", lambda: explore(orgs, *days90, ("model",), "week")),
            ("colors", lambda: first_seen(orgs, "model")),
        ],
    }


def best(call: Callable[[], object], trials: int) -> tuple[float, float]:
    """Best-of-`trials` (CPU, wall) seconds of `call`, after one untimed run."""
    call()
    cpu, wall = float("inf"), float("inf")
    for _ in range(trials):
        c, w = time.process_time(), time.perf_counter()
        call()
        cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
    return cpu, wall


def use(n: int) -> None:
    from models.db import dispose_engines
    from models.settings import reset_settings

    path = sqlite_kept(n)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/pages.py --sizes ... --keep --load-only first")
    dispose_engines()
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    reset_settings()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200k,10M")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--profile", help="a view (home, explorer, explorer-90d): print its cProfile instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spendsight-bench-queries-"))
    for var in [v for v in os.environ if v.startswith("SPENDSIGHT_") or v == "DATABASE_URL"]:
        del os.environ[var]
    os.environ["SPENDSIGHT_DATA_DIR"] = str(work)
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    print(f"page queries: org {ORG_ID}, today {today}, best of {args.trials} (cpu / wall ms)", flush=True)
    results: dict[int, dict[str, float]] = {}
    for n in sizes:
        use(n)
        from models.schema import init_db

        init_db()  # fills rollup tables newer than the kept database (once)
        if args.profile:
            calls = views(today)[args.profile]
            for _, call in calls:
                call()
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(3):
                for _, call in calls:
                    call()
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(30)
            print(f"--- {label(n)} {args.profile} (3 runs)\n{out.getvalue()}")
            continue
        line, totals = [], {}
        for name, calls in views(today).items():
            parts = []
            total = 0.0
            for part, call in calls:
                cpu, wall = best(call, args.trials)
                total += cpu
                parts.append(f"{part} {cpu * 1000:.0f}/{wall * 1000:.0f}")
            totals[name] = total
            line.append(f"{name} {total * 1000:.0f} ms ({', '.join(parts)})")
        results[n] = totals
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"  {label(n):>4}: " + "; ".join(line) + f"  [load average {load}]", flush=True)
    if len(results) > 1 and not args.profile:
        small, large = sizes[0], sizes[-1]
        print(
            f"  cpu {label(large)}/{label(small)}: "
            + ", ".join(f"{name} {results[large][name] / results[small][name]:.2f}" for name in results[small])
        )


if __name__ == "__main__":
    main()

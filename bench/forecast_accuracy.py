"""How the month-end forecast does against the naive run-rate on many kinds of series.

Every series of bench/forecast_series.py (held-out seeds unless --tuning) is backtested the way
`spendsight backtest` does it: each complete month, as of days 7, 10, 14 and 21, seeing only the
days up to the as-of day. Per series: ratio = mean p50 APE / mean run-rate APE, and how often
p10-p90 held the actual. Printed per kind, then overall, ending with

    RATIO mean over series of p50 APE / run-rate APE = x (target <= 0.80)

    .venv/bin/python bench/forecast_accuracy.py                  # held-out, 10 series per kind
    .venv/bin/python bench/forecast_accuracy.py --per-kind 3     # quicker
    .venv/bin/python bench/forecast_accuracy.py --tuning         # the seeds the constants were chosen on
"""

from __future__ import annotations

# Imports inside functions here are the product's modules and heavy libraries, made only in the process
# that uses them and after this script has set the environment the settings read (SPENDSIGHT_DATA_DIR,
# DATABASE_URL); a parent that spawns and times children does not pay them (measured: models.tables
# 0.6 s to import, streamlit 0.34 s).
import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import forecast_series as fs  # noqa: E402


def score(kind: str, seed: int, tuning=None) -> dict:
    """Backtest one series: APEs of p50 and of the run-rate, band hits, per run."""
    from models.budgets import backtest as bt
    from models.budgets.forecast import DEFAULT

    daily = {d: Decimal(str(v)) for d, v in fs.make(kind, seed).items()}
    result = bt.backtest(daily, params=tuning or DEFAULT)
    ape, ape_naive, hits = [], [], []
    for run in result["runs"]:
        if run["actual"] <= 0:
            continue
        year, month = map(int, run["month"].split("-"))
        naive = float(bt.naive_run_rate(daily, date(year, month, run["as_of_day"])))
        ape.append(abs(run["p50"] - run["actual"]) / run["actual"])
        ape_naive.append(abs(naive - run["actual"]) / run["actual"])
        hits.append(run["p10"] <= run["actual"] <= run["p90"])
    return {"kind": kind, "seed": seed, "ape": ape, "ape_naive": ape_naive, "hits": hits}


def ratio_of(s: dict) -> float | None:
    naive = sum(s["ape_naive"])
    return sum(s["ape"]) / naive if naive > 0 else None


def summarize(scores: list[dict]) -> dict:
    """Per kind and overall: mean ratio over series, coverage over runs, run counts."""
    kinds: dict[str, list[dict]] = {}
    for s in scores:
        kinds.setdefault(s["kind"], []).append(s)

    def agg(group: list[dict]) -> dict:
        ratios = [r for r in (ratio_of(s) for s in group) if r is not None]
        hits = [h for s in group for h in s["hits"]]
        ape = [a for s in group for a in s["ape"]]
        naive = [a for s in group for a in s["ape_naive"]]
        return {
            "series": len(group),
            "runs": len(hits),
            "ratio": sum(ratios) / len(ratios) if ratios else None,
            "coverage": sum(hits) / len(hits) if hits else None,
            "mape": 100 * sum(ape) / len(ape) if ape else None,
            "mape_naive": 100 * sum(naive) / len(naive) if naive else None,
        }

    return {"kinds": {k: agg(g) for k, g in kinds.items()}, "all": agg(scores)}


def run(seeds, per_kind: int, kinds=None, jobs: int = 1) -> dict:
    tasks = [(kind, seed) for kind in (kinds or fs.KINDS) for seed in list(seeds)[:per_kind]]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            scores = list(pool.map(score, *zip(*tasks)))
    else:
        scores = [score(k, s) for k, s in tasks]
    return summarize(scores)


def report(summary: dict) -> str:
    lines = [f"{'kind':<24} {'series':>6} {'runs':>5} {'ratio':>6} {'coverage':>8} {'MAPE':>7} {'naive':>7}"]
    rows = list(summary["kinds"].items()) + [("all", summary["all"])]
    for kind, s in rows:
        lines.append(
            f"{kind:<24} {s['series']:>6} {s['runs']:>5} {s['ratio']:>6.3f} {s['coverage']:>8.1%} "
            f"{s['mape']:>6.2f}% {s['mape_naive']:>6.2f}%"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuning", action="store_true", help="score the tuning seeds instead of the held-out ones")
    parser.add_argument("--per-kind", type=int, default=10, help="series per kind")
    parser.add_argument("--kind", action="append", help="only this kind (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    args = parser.parse_args()
    seeds = fs.TUNING if args.tuning else fs.HELD_OUT
    started = time.perf_counter()
    summary = run(seeds, args.per_kind, args.kind, args.jobs)
    print(
        f"forecast accuracy: {'tuning' if args.tuning else 'held-out'} seeds, {args.per_kind} series per kind, "
        f"as of days 7/10/14/21 of every complete month ({time.perf_counter() - started:.0f} s)"
    )
    print(report(summary))
    worst = max(summary["kinds"].items(), key=lambda kv: kv[1]["ratio"])
    print(
        f"worst kind: {worst[0]} {worst[1]['ratio']:.3f} (target <= 1.00); "
        f"coverage {summary['all']['coverage']:.1%} (target 75-85%)"
    )
    print(f"RATIO mean over series of p50 APE / run-rate APE = {summary['all']['ratio']:.3f} (target <= 0.80)")


if __name__ == "__main__":
    main()

"""The headline accuracy figures on a small fixed held-out subset (bench/forecast_accuracy.py has
the full set): a change that makes the forecast worse than these fails here."""

from __future__ import annotations

import pytest

from bench import forecast_accuracy as fa
from bench import forecast_series as fs

# Both tests read one backtest of the subset (the module fixture, a quarter of a minute): on one xdist
# worker (`--dist loadgroup`), so it runs once rather than once per worker.
pytestmark = pytest.mark.xdist_group("forecast_accuracy")

# Two held-out series of each of the 15 kinds, backtested as `spendsight backtest` does, as measured
# when the method was last changed (docs/forecast.md has all ten series per kind: 0.717 overall,
# every kind below 1.0). Two series are few: one kind (step-down) is above 1.0 here, so each kind is
# pinned to its own figure rather than to 1.0.
PINNED_RATIO, PINNED_COVERAGE = 0.707, 0.769
PINNED_KINDS = {
    "calm": 0.712,
    "weekly": 0.593,
    "growth": 0.763,
    "decline": 0.923,
    "step-up": 0.902,
    "step-down": 1.018,
    "spiky": 0.532,
    "heavy-tailed": 0.782,
    "sparse": 0.729,
    "short": 0.564,
    "month-start": 0.214,
    "azure-code": 0.765,
    "azure-conv": 0.782,
    "azure-code-month-start": 0.371,
    "wiki": 0.95,
}


@pytest.fixture(scope="module")
def subset():
    return fa.run(fs.HELD_OUT, per_kind=2, jobs=1)


def test_held_out_subset_beats_the_run_rate_by_the_pinned_margin(subset):
    overall = subset["all"]
    assert overall["series"] == 2 * len(fs.KINDS) and overall["runs"] == 1692
    assert overall["ratio"] <= PINNED_RATIO + 0.01, overall
    assert abs(overall["coverage"] - PINNED_COVERAGE) <= 0.02, overall


def test_no_kind_in_the_subset_got_worse(subset):
    worse = {k: round(s["ratio"], 3) for k, s in subset["kinds"].items() if s["ratio"] > PINNED_KINDS[k] + 0.03}
    assert worse == {}

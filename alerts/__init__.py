"""Alerts: rules evaluated after each collection or ingest and by the worker, an outbox that makes
each alert fire once per (org, project, rule, threshold, period), and email/webhook delivery.

The entry points live in alerts/service.py; this module only re-exports them.
"""

from alerts.rules import Candidate
from alerts.service import (
    WATCH_SECONDS,
    RunReport,
    Watcher,
    after_usage,
    deliver_now,
    evaluate,
    notify,
    run_cycle,
    run_once,
    send_test,
)

__all__ = [
    "Candidate",
    "WATCH_SECONDS",
    "RunReport",
    "Watcher",
    "after_usage",
    "deliver_now",
    "evaluate",
    "notify",
    "run_cycle",
    "run_once",
    "send_test",
]

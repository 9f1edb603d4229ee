"""The one guard against spreadsheet formula injection, for every export: the dashboard's downloads
(ui/safe.py, models/spend/explore.py) and `spendsight report --format csv`. Its own small module so
the report command does not import pandas with explore.py."""

from __future__ import annotations

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """A text cell a spreadsheet will not run as a formula (prefixed with a quote); others unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value

"""Anthropic Admin API: where, which reports, how they group and page (from the Admin API reference)."""

from models.units import DAY, HOUR

API_VERSION = "2023-06-01"

WIDTH_PARAM = {HOUR: "1h", DAY: "1d"}
USAGE_LIMITS = {HOUR: 168, DAY: 31}  # `limit` maxima (buckets per page) of usage_report/messages
COSTS_LIMITS = {DAY: 31}  # cost_report: 1d buckets only

USAGE_PATH = "/organizations/usage_report/messages"
USAGE_KIND = "messages"  # the usage `kind`, as request-log ingest names Anthropic Messages usage
USAGE_GROUP_BY = ("api_key_id", "workspace_id", "model", "service_tier", "context_window")
COSTS_PATH = "/organizations/cost_report"
COSTS_GROUP_BY = ("workspace_id", "description")  # no per-key grouping exists for costs

# context_window groups -> our context_band (the prompt-size threshold that selects long-context prices).
CONTEXT_BANDS = {"": 0, "0-200k": 0, "200k-1M": 200_000}

"""Request-log ingest settings: formats, batch size, CSV fields."""

from datetime import UTC, datetime

FORMATS = ("auto", "openai-jsonl", "anthropic-jsonl", "litellm-csv", "csv")
BATCH_ROWS = 20000
MAX_RAW_CHARS = 2000

# Fields a generic CSV can map with --map FIELD=COLUMN.
CSV_FIELDS = (
    "timestamp",
    "request_id",
    "org",
    "project",
    "api_key_id",
    "user",
    "model",
    "provider",
    "service_tier",
    "batch",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
CSV_COUNT_FIELDS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
# Columns that identify a LiteLLM spend-log export.
LITELLM_COLUMNS = {"request_id", "startTime", "prompt_tokens", "completion_tokens", "model"}

# The largest count one line may carry (tokens, requests): a trillion, far beyond any real request,
# and small enough that 9 million such lines still sum within a BIGINT rollup column (2^63). JSON
# numbers beyond 2^53 lose precision in most readers anyway.
MAX_COUNT = 10**12
# Times a line may carry: 2200 is far enough from datetime's limits that every org's local day exists.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

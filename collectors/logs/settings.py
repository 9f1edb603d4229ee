"""Request-log ingest settings: formats, batch size, CSV fields."""

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

"""OpenAI admin API: where, which endpoints, how they group and page (from the published OpenAPI spec)."""

from models.units import DAY, HOUR

WIDTH_PARAM = {HOUR: "1h", DAY: "1d"}
# `limit` maxima (buckets per page) per bucket width; every usage endpoint shares them.
USAGE_LIMITS = {HOUR: 168, DAY: 31}
COSTS_LIMITS = {DAY: 180}  # /organization/costs only has 1d buckets

# Endpoint family (our usage `kind`) -> group_by fields we ask for. Only fields Spendsight keeps
# as dimensions: grouping by one we drop (image size, web search context level, vector store id)
# would only split rows that collapse again.
USAGE_GROUP_BY = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "moderations": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("project_id", "user_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "web_search_calls": ("project_id", "user_id", "api_key_id", "model"),
    "file_search_calls": ("project_id", "user_id", "api_key_id"),
}
USAGE_PATH = "/organization/usage/{kind}"
COSTS_PATH = "/organization/costs"
COSTS_GROUP_BY = ("project_id", "line_item")

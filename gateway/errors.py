"""Error bodies in each provider's own shape, so the official SDKs raise their usual exceptions."""

from __future__ import annotations

import orjson

REASONS = ("hard_limit_reached", "quota_reached", "credit_exhausted")
MESSAGES = {
    "hard_limit_reached": "The hard spend limit of {scope} is reached for this month; requests are rejected.",
    "quota_reached": "The approved monthly usage limit of {scope} is reached; requests are rejected.",
    "credit_exhausted": "The trial credit of {scope} is used up or expired and no billing limit is set.",
}
# Anthropic's error type for each HTTP status (its documented error shapes).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
}
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "insufficient_quota",
    502: "server_error",
    503: "server_error",
    504: "server_error",
}


def error_body(provider: str, status: int, message: str, code: str | None = None) -> bytes:
    if provider == "anthropic":
        error: dict[str, object] = {"type": _ANTHROPIC_TYPES.get(status, "api_error"), "message": message}
        if code:
            error["code"] = code  # an extra field: the SDK keeps it in the exception's body
        return orjson.dumps({"type": "error", "error": error})
    return orjson.dumps(
        {"error": {"message": message, "type": _OPENAI_TYPES.get(status, "server_error"), "param": None, "code": code}}
    )


def rejection_message(reason: str, org_id: str, project_id: str) -> str:
    scope = f"project {project_id} of {org_id}" if project_id else f"organization {org_id}"
    return MESSAGES[reason].format(scope=scope)

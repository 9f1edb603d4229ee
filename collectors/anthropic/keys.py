"""Anthropic Admin API key status: `POST /v1/organizations/api_keys/{id}` with `{"status": ...}`.

The documented way to switch a key off (reversibly, "inactive") and on again ("active"); the method
is POST, not PATCH (see the Admin API reference). One call, no retries here: the worker tries again
on its next pass, and a failure is recorded with the status code only, never a response body.
"""

from __future__ import annotations

from typing import Literal

import httpx

from collectors.anthropic.client import headers
from collectors.http import scrub

KeyStatus = Literal["active", "inactive"]
TIMEOUT_SECONDS = 15.0


class KeyActionError(Exception):
    """The Admin API did not confirm the change; the message is safe to store and show."""


def set_key_status(base_url: str, admin_key: str, api_key_id: str, status: KeyStatus) -> str:
    """Set one API key's status; returns the status the API reports back."""
    url = f"{base_url.rstrip('/')}/organizations/api_keys/{api_key_id}"
    try:
        with httpx.Client(headers=headers(admin_key), timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = client.post(url, json={"status": status})
    except httpx.HTTPError as exc:
        raise KeyActionError(scrub(f"{type(exc).__name__}: {exc}", admin_key)) from None
    if response.status_code != 200:
        raise KeyActionError(f"the Admin API answered HTTP {response.status_code} for {api_key_id}")
    try:
        reported = response.json().get("status")
    except ValueError:
        raise KeyActionError(f"the Admin API's answer for {api_key_id} is not JSON") from None
    if reported != status:
        raise KeyActionError(f"the Admin API reports {api_key_id} as {reported!r}, not {status!r}")
    return str(reported)

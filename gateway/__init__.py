"""The gateway: an ASGI server in the request path that checks limits before forwarding to the provider
and records every request's usage (see docs/gateway.md)."""

"""OTLP/HTTP GenAI spans into usage: decode (decode.py), map spans to rows (spans.py), store (store.py),
the Starlette route (receiver.py)."""

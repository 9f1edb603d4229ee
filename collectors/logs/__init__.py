"""Request-log ingest: `ingest.py` streams files in batches into usage, `formats.py` and `fast.py`
parse lines, `watch.py` tails the worker's inbox, `parallel.py` splits big JSONL files across processes.

Deliberately empty: `parallel.py` must import without the ingest code (the command starts its
helper processes first, so they import it while the command does), and importing a package runs
its __init__ first.
"""

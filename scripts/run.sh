#!/usr/bin/env bash
# Start the worker, the gateway and the dashboard together; Ctrl-C (or any one exiting) stops all three.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# The gateway (8788) also serves the sign-in front route (/auth/*, sets the session cookie) and the
# OTLP traces receiver (/v1/traces).
"$BIN/spendsight" worker &
worker=$!
"$BIN/spendsight" gateway &
gateway=$!
"$BIN/streamlit" run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true \
    --browser.gatherUsageStats false &
ui=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$worker" "$gateway" "$ui" 2>/dev/null
    wait "$worker" "$gateway" "$ui" 2>/dev/null
    echo "spendsight stopped"
}
trap stop INT TERM EXIT
echo "Spendsight on http://127.0.0.1:8501 gateway, sign-in and OTLP on http://127.0.0.1:8788 (Ctrl-C stops all)"
wait -n "$worker" "$gateway" "$ui"

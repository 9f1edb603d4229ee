#!/usr/bin/env bash
# Start the worker and the dashboard together; Ctrl-C (or either one exiting) stops both.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

"$BIN/spendsight" worker &
worker=$!
"$BIN/streamlit" run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true \
    --browser.gatherUsageStats false &
ui=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$worker" "$ui" 2>/dev/null
    wait "$worker" "$ui" 2>/dev/null
    echo "spendsight stopped"
}
trap stop INT TERM EXIT
echo "Spendsight on http://127.0.0.1:8501 (Ctrl-C stops the worker and the dashboard)"
wait -n "$worker" "$ui"

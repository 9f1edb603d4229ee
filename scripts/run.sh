#!/usr/bin/env bash
# Start the worker, the gateway and the dashboard together; Ctrl-C (or any one exiting) stops all three.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# The sign-in front route (gateway/signin.py) sets the session cookie; served on its own port until
# the gateway mounts its routes (then the default SPENDSIGHT_AUTH_URL, the gateway's 8788, serves it).
export SPENDSIGHT_AUTH_URL="${SPENDSIGHT_AUTH_URL:-http://127.0.0.1:8789}"
"$BIN/python" -m gateway.signin --host 127.0.0.1 --port "${SPENDSIGHT_AUTH_URL##*:}" &
signin=$!
"$BIN/spendsight" worker &
worker=$!
"$BIN/spendsight" gateway &
gateway=$!
"$BIN/streamlit" run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true \
    --browser.gatherUsageStats false &
ui=$!

stop() {
    trap - INT TERM EXIT
    kill -TERM "$signin" "$worker" "$gateway" "$ui" 2>/dev/null
    wait "$signin" "$worker" "$gateway" "$ui" 2>/dev/null
    echo "spendsight stopped"
}
trap stop INT TERM EXIT
echo "Spendsight on http://127.0.0.1:8501 (sign-in: $SPENDSIGHT_AUTH_URL/auth/signin), gateway on http://127.0.0.1:8788 (Ctrl-C stops all)"
wait -n "$signin" "$worker" "$gateway" "$ui"

#!/usr/bin/env bash
# Run the suite on PostgreSQL: the server at $SPENDSIGHT_TEST_PG_ADMIN (default 127.0.0.1:5432) when
# one answers there, else a throwaway server started here (Debian's postgresql installed if missing,
# initdb in a temp dir, a free port, trust auth) and stopped at the end, whatever the outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
ADMIN=${SPENDSIGHT_TEST_PG_ADMIN:-postgresql://postgres@127.0.0.1:5432/test}

if "$BIN/python" -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$ADMIN" 2>/dev/null; then
    exec "$BIN/pytest" -q --db postgresql "$@"
fi

echo "no PostgreSQL answers at $ADMIN: starting a throwaway server" >&2
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pgbin" ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql >/dev/null
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
dir=$(mktemp -d)
port=$("$BIN/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
# PostgreSQL refuses to run as root: the server runs as `postgres` (or `nobody`) when we are root.
as=()
if [ "$(id -u)" = 0 ]; then
    user=$(id -u postgres >/dev/null 2>&1 && echo postgres || echo nobody)
    chown "$user" "$dir"
    as=(runuser -u "$user" --)
fi
stop() { "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap stop EXIT
"${as[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >/dev/null
"${as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U postgres test
SPENDSIGHT_TEST_PG_ADMIN="postgresql://postgres@127.0.0.1:$port/test" "$BIN/pytest" -q --db postgresql "$@"

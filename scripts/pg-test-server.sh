#!/usr/bin/env bash
# Start (or find already running) the PostgreSQL server the storage contract
# tests use, and print the line that points the tests at it:
#
#     eval "$(scripts/pg-test-server.sh)"    # sets COUNTERFLOW_TEST_PG_URL
#
# The cluster lives in /tmp/counterflow-pg (data, socket, log, password), owned
# by the `postgres` user when run as root (PostgreSQL refuses to run as root),
# listens on 127.0.0.1:54329 with password authentication, and holds a database
# counterflow_test; the tests create and drop their own databases beside it.
# Running the script again only prints the URL. Stop the server with:
#     runuser -u postgres -- pg_ctl -D /tmp/counterflow-pg/data stop
set -euo pipefail

ROOT=/tmp/counterflow-pg
PORT=54329
DATABASE=counterflow_test
SUPERUSER=postgres
INSTALL="apt-get update && apt-get install -y postgresql"

say() { echo "pg-test-server: $*" >&2; }

find_bin() {
    # The directory of the real binaries: psql must come from the same one.
    local dir
    if command -v pg_ctl >/dev/null 2>&1; then
        dir=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    else
        dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    fi
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/psql" ]; then
        echo "$dir"
    fi
}

BIN=$(find_bin)
if [ -z "$BIN" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        say "PostgreSQL is not installed; as root run: $INSTALL"
        exit 1
    fi
    say "installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(find_bin)
    if [ -z "$BIN" ]; then
        say "PostgreSQL binaries still not found after installing"
        exit 1
    fi
fi

if [ "$(id -u)" -eq 0 ]; then
    id -u "$SUPERUSER" >/dev/null 2>&1 || useradd --system "$SUPERUSER"
    as_owner() { runuser -u "$SUPERUSER" -- "$@"; }
    OWNER=$SUPERUSER
else
    as_owner() { "$@"; }
    OWNER=$(id -un)
fi

if [ ! -d "$ROOT" ]; then
    mkdir -m 700 "$ROOT"
    chown "$OWNER" "$ROOT"
fi
if [ "$(stat -c %U "$ROOT")" != "$OWNER" ]; then
    say "$ROOT belongs to $(stat -c %U "$ROOT"), not $OWNER: remove it or run as that user"
    exit 1
fi

if [ ! -s "$ROOT/password" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$ROOT/password")
    chown "$OWNER" "$ROOT/password"
fi
PASSWORD=$(cat "$ROOT/password")

if [ ! -f "$ROOT/data/PG_VERSION" ]; then
    say "creating a cluster in $ROOT/data"
    # Local (socket) connections are trusted: the socket sits in $ROOT, mode 0700.
    as_owner "$BIN/initdb" -D "$ROOT/data" -U "$SUPERUSER" --pwfile="$ROOT/password" \
        --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --no-locale >&2
fi

if ! as_owner "$BIN/pg_ctl" -D "$ROOT/data" status >/dev/null 2>&1; then
    say "starting on 127.0.0.1:$PORT"
    if ! as_owner "$BIN/pg_ctl" -D "$ROOT/data" -l "$ROOT/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $ROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2; then
        say "PostgreSQL did not start; the end of $ROOT/server.log:"
        tail -n 20 "$ROOT/server.log" >&2 || true
        exit 1
    fi
fi

psql_local() { as_owner "$BIN/psql" -h "$ROOT" -p "$PORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 -tAq "$@"; }
if [ "$(psql_local -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != "1" ]; then
    psql_local -c "CREATE DATABASE $DATABASE" >&2
fi

echo "export COUNTERFLOW_TEST_PG_URL='postgresql+psycopg://$SUPERUSER:$PASSWORD@127.0.0.1:$PORT/$DATABASE'"

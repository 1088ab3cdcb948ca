#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tunebook's test suite, on 127.0.0.1 only.
#   scripts/pg-test-server.sh start     create (once) and start it; prints the export lines
#   scripts/pg-test-server.sh restart   restart it (the fault tests do this mid-study)
#   scripts/pg-test-server.sh stop
# Needs Debian's postgresql package (apt-get install -y postgresql). As root, the server
# runs as the postgres user; otherwise as you.
set -euo pipefail
PORT=${TUNEBOOK_PG_PORT:-55432}
DIR=${TUNEBOOK_PG_DIR:-/tmp/tunebook-pg}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$BIN" ]; then
  echo "PostgreSQL is not installed: apt-get install -y postgresql" >&2
  exit 1
fi
as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pgctl() {
  as_server "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w "$@"
}
OPTIONS="-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
case "${1:-start}" in
  start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"
      if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
      as_server "$BIN/initdb" -D "$DIR" -A trust -U postgres >/dev/null
    fi
    pgctl -o "$OPTIONS" status >/dev/null 2>&1 || pgctl -o "$OPTIONS" start >/dev/null
    echo "export TUNEBOOK_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    echo "export TUNEBOOK_TEST_PG_RESTART='$(cd "$(dirname "$0")" && pwd)/pg-test-server.sh restart'"
    ;;
  restart) pgctl -o "$OPTIONS" -m fast restart >/dev/null ;;
  stop) pgctl -m fast stop >/dev/null ;;
  *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac

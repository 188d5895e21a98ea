#!/usr/bin/env bash
# Brings the whole system up: migrations, demo data (first run only), a Celery worker with the scheduler (beat)
# embedded, and the web server. Ctrl-C stops everything.
#
# Embedded defaults: a SQLite file and a filesystem queue under instance/, no server to install.
# Set DATABASE_URL (PostgreSQL) and REDIS_URL to use them instead; DRP_INSTANCE_PATH moves the instance folder;
# HOST (default 127.0.0.1) and PORT (default 5000) say where the web server listens; WEB_CONCURRENCY sets the
# number of web processes (gunicorn reads it), WORKER_CONCURRENCY the number of task processes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
export FLASK_APP=wsgi.py
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
export WEB_CONCURRENCY="${WEB_CONCURRENCY:-2}"
INSTANCE="${DRP_INSTANCE_PATH:-$ROOT/instance}"
export DRP_INSTANCE_PATH="$INSTANCE"
WORKER_LOG="$INSTANCE/worker.log"
LOGINS_FILE="$INSTANCE/demo-logins.txt"

for exe in flask celery gunicorn python; do
  [[ -x "$BIN/$exe" ]] || { echo "missing $BIN/$exe: run 'make run' (it installs first)" >&2; exit 1; }
done
mkdir -p "$INSTANCE"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
mask() { sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#' <<<"$1"; }

say "database: $(mask "${DATABASE_URL:-sqlite:///$INSTANCE/drp.sqlite}")"
say "queue:    $(mask "${REDIS_URL:-filesystem broker in $INSTANCE/celery-broker (no Redis)}")"

say "migrating the database (flask db upgrade)"
"$BIN/flask" db upgrade

users=$(LOG_LEVEL=WARNING "$BIN/python" - <<'EOF'
from sqlalchemy import func, select

from app.extensions import db
from app.models import User
from wsgi import app

with app.app_context():
    print(db.session.execute(select(func.count()).select_from(User)).scalar_one())
EOF
)
if [[ "$users" == "0" ]]; then
  say "no users yet: loading demo data (flask drp seed-demo)"
  umask 077
  "$BIN/flask" drp seed-demo | tee "$LOGINS_FILE"
  umask 022
else
  say "database already has $users users: not seeding"
fi

WORKER_PID=""
WEB_PID=""
stopping=0
cleanup() {
  [[ $stopping == 1 ]] && return
  stopping=1
  trap - INT TERM
  echo
  echo "stopping the web server and the worker (it finishes running tasks first; a few seconds) ..."
  [[ -n "$WEB_PID" ]] && kill -TERM "$WEB_PID" 2>/dev/null || true
  [[ -n "$WORKER_PID" ]] && kill -TERM "$WORKER_PID" 2>/dev/null || true
  [[ -n "$WEB_PID" ]] && wait "$WEB_PID" 2>/dev/null || true
  [[ -n "$WORKER_PID" ]] && wait "$WORKER_PID" 2>/dev/null || true
  echo "stopped."
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the Celery worker with the scheduler embedded (log: $WORKER_LOG)"
"$BIN/celery" -A wsgi:celery worker -B --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" \
  >>"$WORKER_LOG" 2>&1 &
WORKER_PID=$!

say "starting the web server (gunicorn, $WEB_CONCURRENCY processes) on $HOST:$PORT"
"$BIN/gunicorn" wsgi:app --bind "$HOST:$PORT" --access-logfile - --no-control-socket &
WEB_PID=$!

URL_HOST="$HOST"
[[ "$HOST" == "0.0.0.0" || "$HOST" == "::" ]] && URL_HOST="127.0.0.1"
URL="http://$URL_HOST:$PORT"
healthy=0
deadline=$((SECONDS + 90))
while ((SECONDS < deadline)); do
  kill -0 "$WEB_PID" 2>/dev/null || { echo "the web server did not start (see above)" >&2; exit 1; }
  kill -0 "$WORKER_PID" 2>/dev/null || { echo "the worker did not start:" >&2; tail -n 30 "$WORKER_LOG" >&2; exit 1; }
  if "$BIN/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=5)" "$URL/healthz" \
    2>/dev/null; then
    healthy=1
    break
  fi
  sleep 0.5
done
((healthy)) || echo "warning: $URL/healthz did not answer 200 yet (see the log above)" >&2

cat <<EOF

================================================================================
  DRP channel distribution system is up.

  Log in at:  $URL/login
  Health:     $URL/healthz
  Worker log: $WORKER_LOG
EOF
if [[ -s "$LOGINS_FILE" ]]; then
  echo
  echo "  Demo logins (printed by the first seed-demo run, kept in $LOGINS_FILE):"
  if grep -q '^Logins:' "$LOGINS_FILE"; then
    sed -n '/^Logins:/,$p' "$LOGINS_FILE" | tail -n +2 | sed 's/^ */    /'
  else
    sed 's/^/    /' "$LOGINS_FILE"
  fi
else
  echo
  echo "  Logins: the users already in this database (add one with: $BIN/flask drp create-user NAME --role admin)"
fi
cat <<EOF

  Press Ctrl-C to stop the web server and the worker.
================================================================================

EOF

# Wait until either process ends (or Ctrl-C); the EXIT trap stops the other one.
while kill -0 "$WEB_PID" 2>/dev/null && kill -0 "$WORKER_PID" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
if ! kill -0 "$WORKER_PID" 2>/dev/null; then
  echo "the worker stopped; last lines of $WORKER_LOG:" >&2
  tail -n 20 "$WORKER_LOG" >&2
fi
exit 1

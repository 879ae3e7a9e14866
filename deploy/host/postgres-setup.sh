#!/usr/bin/env bash
# Likavillkor: PostgreSQL role and database for the collector (Debian's postgresql package).
# Run as root; idempotent. deploy/host/install.sh runs it; by hand:
#
#   LIKAVILLKOR_CREDENTIALS=/etc/likavillkor/credentials deploy/host/postgres-setup.sh
#
# Creates the login role `likavillkor` with a random password and the database `likavillkor`
# owned by it (UTF8), then writes the collector's [store] url, password included, to
# $LIKAVILLKOR_CREDENTIALS/store.env (root, 0600; the unit's EnvironmentFile=). A second run keeps
# the password. PGHOST/PGPORT name the server (default: the local socket, as the postgres user;
# the collector then connects to 127.0.0.1:5432, which Debian allows with a password).
set -euo pipefail
CRED="${LIKAVILLKOR_CREDENTIALS:-/etc/likavillkor/credentials}"
ROLE="${LIKAVILLKOR_DB_ROLE:-likavillkor}"
DB="${LIKAVILLKOR_DB_NAME:-likavillkor}"
HOST="${PGHOST:-127.0.0.1}"
PORT="${PGPORT:-5432}"
ENV_FILE="$CRED/store.env"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"   # every connection attempt has a deadline
umask 077
install -d -m 0750 "$CRED"

psql_() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

password=""
if [ -r "$ENV_FILE" ]; then   # keep the password of an earlier run
  password="$(sed -n 's#^LIKAVILLKOR_COLLECTOR__STORE__URL=postgresql+psycopg://[^:]*:\([^@]*\)@.*#\1#p' "$ENV_FILE")"
fi
[ -n "$password" ] || password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"

if [ "$(psql_ -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
  psql_ -c "CREATE ROLE \"$ROLE\" LOGIN"
fi
# the password on psql's standard input, never on a command line other users can see
printf 'ALTER ROLE "%s" PASSWORD '"'"'%s'"'"';\n' "$ROLE" "$password" | psql_
if [ "$(psql_ -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
  psql_ -c "CREATE DATABASE \"$DB\" OWNER \"$ROLE\" ENCODING 'UTF8' TEMPLATE template0"
fi
psql_ -c "REVOKE ALL ON DATABASE \"$DB\" FROM PUBLIC"

tmp="$ENV_FILE.tmp"
printf 'LIKAVILLKOR_COLLECTOR__STORE__URL=postgresql+psycopg://%s:%s@%s:%s/%s\n' \
  "$ROLE" "$password" "$HOST" "$PORT" "$DB" > "$tmp"
chmod 0600 "$tmp" && mv "$tmp" "$ENV_FILE"
echo "PostgreSQL: role $ROLE, database $DB on $HOST:$PORT; the URL is in $ENV_FILE" >&2

#!/usr/bin/env bash
# Likavillkor: InfluxDB 1.x set-up for the collector and Grafana (Debian's influxdb package, with
# deploy/host/influxdb.conf: loopback only, auth-enabled). Run as root once influxd runs;
# idempotent. deploy/host/install.sh runs it; by hand:
#
#   LIKAVILLKOR_CREDENTIALS=/etc/likavillkor/credentials deploy/host/influxdb1-setup.sh
#
# Creates (first run) the admin user, then the database `likavillkor` with the retention policy
# `likavillkor_<N>d` (DURATION N days, default 90, the collector's [retention] samples_days) as
# its default, the collector's user `likavillkor` (ALL on the database: it writes, and `forget`
# drops series) and Grafana's `grafana` (READ). Passwords are random and kept across runs in
# $LIKAVILLKOR_CREDENTIALS (root, 0600): influx-admin.env, influx.env (the collector's, the unit's
# EnvironmentFile=) and grafana-influx.env (for Grafana's data source).
set -euo pipefail
CRED="${LIKAVILLKOR_CREDENTIALS:-/etc/likavillkor/credentials}"
URL="${LIKAVILLKOR_INFLUX_URL:-http://127.0.0.1:8086}"
DAYS="${LIKAVILLKOR_RETENTION_DAYS:-90}"
DB=likavillkor
RP="likavillkor_${DAYS}d"
umask 077
install -d -m 0750 "$CRED"

secret() {  # secret FILE KEY: the value kept in FILE, or a new random one
  local v=""
  [ -r "$1" ] && v="$(sed -n "s#^$2=##p" "$1")"
  [ -n "$v" ] || v="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
  printf '%s' "$v"
}
ADMIN_PW="$(secret "$CRED/influx-admin.env" INFLUX_ADMIN_PASSWORD)"
COLLECTOR_PW="$(secret "$CRED/influx.env" LIKAVILLKOR_COLLECTOR__INFLUX__PASSWORD)"
GRAFANA_PW="$(secret "$CRED/grafana-influx.env" GRAFANA_INFLUX_PASSWORD)"
printf 'INFLUX_ADMIN_USER=admin\nINFLUX_ADMIN_PASSWORD=%s\n' "$ADMIN_PW" > "$CRED/influx-admin.env"
printf 'LIKAVILLKOR_COLLECTOR__INFLUX__USERNAME=likavillkor\nLIKAVILLKOR_COLLECTOR__INFLUX__PASSWORD=%s\n' \
  "$COLLECTOR_PW" > "$CRED/influx.env"
printf 'GRAFANA_INFLUX_USER=grafana\nGRAFANA_INFLUX_PASSWORD=%s\n' "$GRAFANA_PW" > "$CRED/grafana-influx.env"

for _ in $(seq 1 120); do  # influxd was just (re)started
  curl -fs -o /dev/null --max-time 2 "$URL/ping" && break
  sleep 0.5
done
curl -fsS -o /dev/null --max-time 5 "$URL/ping" || { echo "InfluxDB does not answer at $URL" >&2; exit 1; }

# q STATEMENT [AUTH]: one InfluxQL statement; fails on an HTTP or an InfluxQL error
q() {
  local out
  out="$(curl -sS --max-time 30 -w '\n%{http_code}' -XPOST "$URL/query" "${@:2}" --data-urlencode "q=$1")"
  case "$(printf '%s' "$out" | tail -n1)" in 2??) ;; *) echo "InfluxDB: $1: $out" >&2; return 1 ;; esac
  if printf '%s' "$out" | grep -q '"error"'; then echo "InfluxDB: $1: $out" >&2; return 1; fi
}
ADMIN=(-u "admin:$ADMIN_PW")
# With no user at all, InfluxDB lets anyone create the first admin; afterwards only the admin can.
if ! q "SHOW USERS" "${ADMIN[@]}" 2>/dev/null; then
  q "CREATE USER admin WITH PASSWORD '$ADMIN_PW' WITH ALL PRIVILEGES"
fi
q "CREATE DATABASE $DB" "${ADMIN[@]}"
q "CREATE RETENTION POLICY \"$RP\" ON $DB DURATION ${DAYS}d REPLICATION 1 DEFAULT" "${ADMIN[@]}" 2>/dev/null ||
  q "ALTER RETENTION POLICY \"$RP\" ON $DB DURATION ${DAYS}d REPLICATION 1 DEFAULT" "${ADMIN[@]}"
for user in likavillkor grafana; do
  pw="$COLLECTOR_PW"; [ "$user" = grafana ] && pw="$GRAFANA_PW"
  q "CREATE USER $user WITH PASSWORD '$pw'" "${ADMIN[@]}" 2>/dev/null ||
    q "SET PASSWORD FOR $user = '$pw'" "${ADMIN[@]}"
done
q "GRANT ALL ON $DB TO likavillkor" "${ADMIN[@]}"
q "GRANT READ ON $DB TO grafana" "${ADMIN[@]}"
echo "InfluxDB: database $DB, default retention $RP (${DAYS} days), users likavillkor and grafana;" \
     "passwords in $CRED/{influx.env,grafana-influx.env,influx-admin.env}" >&2

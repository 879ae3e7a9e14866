#!/usr/bin/env bash
# Likavillkor: install the collector on a Debian host (docs/operations.md, "With systemd on a
# Debian host"). Run as root from the source tree; idempotent (run it again after an upgrade).
#
#   deploy/host/install.sh --hostname likavillkor.kommun.se --tls-dir ./tls --roster ./roster.toml
#
# It sets up, in this order:
#   1. the Debian packages that are missing (mosquitto, postgresql, influxdb, python3-venv, curl);
#   2. the service user and group `likavillkor`; the mosquitto user joins the group so that the
#      broker reads the generated password and ACL files (root:likavillkor 0640), which the
#      collector reads too (device sign-ins over HTTP);
#   3. the collector in a virtual environment, /opt/likavillkor (pip install SOURCE[collector,postgres];
#      run from the Debian package, /usr/share/likavillkor/deploy/host/install.sh, the package made it);
#   4. /etc/likavillkor (root:likavillkor 0750): roster.toml, tls/ (server.crt, server.key, ca.crt);
#      /var/lib/likavillkor (the service's data: users.toml, web-secret.key, api-token.local);
#   5. the broker credentials (broker-credentials --out /etc/likavillkor/credentials --group
#      likavillkor): every device's complete agent config in credentials/devices/;
#   6. Mosquitto: /etc/mosquitto/conf.d/likavillkor.conf (TLS listener), a link to the generated
#      auth.conf beside it (include_dir works only in the main mosquitto.conf), its own TLS copy;
#   7. PostgreSQL: role and database (deploy/host/postgres-setup.sh -> credentials/store.env);
#   8. InfluxDB 1.x: /etc/influxdb/influxdb.conf (loopback only, authentication on), then database,
#      retention and users (deploy/host/influxdb1-setup.sh -> credentials/influx.env);
#   9. /etc/likavillkor/collector.toml (deploy/host/collector.toml for this host: PostgreSQL and
#      InfluxDB 1.x with the passwords just made; root:likavillkor 0640, so that the CLI run as root
#      with --config uses the same database as the service);
#  10. the systemd unit, then starts (or restarts) mosquitto, influxdb and likavillkor-collector.
#
# LIKAVILLKOR_PREFIX (default empty) moves every path under a throw-away root: the CI test
# (tests/deploy/test_host_install.py) runs this script and the doc's commands that way, with a
# systemctl that starts each service by the ExecStart= line of its unit. The LIKAVILLKOR_*_PORT
# variables move the ports (defaults: 8883 MQTT/TLS, 8860 HTTPS, 8862/udp reflector, 8086 and 8088
# InfluxDB); PGHOST/PGPORT name the PostgreSQL server (default: the local one).
set -euo pipefail
# Files the services read (Mosquitto, InfluxDB as their own users) must not depend on the admin's
# umask: 022 here, and every secret gets its explicit mode below (an admin with umask 077 got an
# InfluxDB that could not read its own config).
umask 022

usage() {
  echo "usage: $0 --hostname NAME --tls-dir DIR --roster FILE [--source DIR] [--user NAME]" >&2
  echo "           [--retention-days N] [--ca-file-on-devices PATH]" >&2
  exit 2
}

SRC="$(cd "$(dirname "$0")/../.." && pwd)"
HOSTNAME_="" TLS_DIR="" ROSTER="" SVC_USER="likavillkor" RETENTION_DAYS=90 DEVICE_CA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hostname) HOSTNAME_="$2"; shift 2 ;;
    --tls-dir) TLS_DIR="$2"; shift 2 ;;
    --roster) ROSTER="$2"; shift 2 ;;
    --source) SRC="$2"; shift 2 ;;
    --user) SVC_USER="$2"; shift 2 ;;
    --retention-days) RETENTION_DAYS="$2"; shift 2 ;;
    --ca-file-on-devices) DEVICE_CA="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
done
[ -n "$HOSTNAME_" ] && [ -n "$TLS_DIR" ] && [ -n "$ROSTER" ] || usage
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 2; }
for f in server.crt server.key ca.crt; do
  [ -r "$TLS_DIR/$f" ] || { echo "$TLS_DIR/$f: missing (docs/tls.md)" >&2; exit 2; }
done
[ -r "$ROSTER" ] || { echo "$ROSTER: missing (deploy/roster.example.toml)" >&2; exit 2; }
case "$RETENTION_DAYS" in ''|*[!0-9]*) echo "--retention-days: a whole number" >&2; exit 2 ;; esac

P="${LIKAVILLKOR_PREFIX:-}"
MQTT_PORT="${LIKAVILLKOR_MQTT_PORT:-8883}"
HTTP_PORT="${LIKAVILLKOR_HTTP_PORT:-8860}"
REFLECTOR_PORT="${LIKAVILLKOR_REFLECTOR_PORT:-8862}"
INFLUX_PORT="${LIKAVILLKOR_INFLUX_PORT:-8086}"
INFLUX_RPC_PORT="${LIKAVILLKOR_INFLUX_RPC_PORT:-8088}"
ETC="$P/etc/likavillkor"
CRED="$ETC/credentials"
VENV="$P/opt/likavillkor"
STATE="$P/var/lib/likavillkor"
# Device side: where the agent finds the CA (empty: the device's trust store already has it)
DEVICE_CA="${DEVICE_CA:-}"

step() { echo "==> $*" >&2; }
# host paths in shipped files -> this install's (identity unless LIKAVILLKOR_PREFIX is set)
paths() {
  sed -e "s#/etc/likavillkor#$P/etc/likavillkor#g" -e "s#/var/lib/likavillkor#$P/var/lib/likavillkor#g" \
      -e "s#/opt/likavillkor#$P/opt/likavillkor#g" -e "s#/etc/mosquitto/#$P/etc/mosquitto/#g" \
      -e "s#/var/lib/influxdb#$P/var/lib/influxdb#g"
}

step "1. Debian packages"
need=()
for pkg in mosquitto postgresql influxdb python3-venv curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi

step "2. service user and group $SVC_USER"
if ! getent passwd "$SVC_USER" >/dev/null; then
  adduser --system --group --home /var/lib/likavillkor --no-create-home --quiet "$SVC_USER"
fi
if ! id -nG mosquitto | tr ' ' '\n' | grep -qx "$SVC_USER"; then
  adduser --quiet mosquitto "$SVC_USER"   # the broker reads the password and ACL files by group
fi

step "3. the collector in $VENV"
if [ -f "$SRC/pyproject.toml" ]; then   # a source tree; from the Debian package the venv is there already
  [ -x "$VENV/bin/python" ] || /usr/bin/python3 -m venv "$VENV"   # Debian's Python (python3-venv)
  "$VENV/bin/python" -m pip install --quiet --upgrade "$SRC[collector,postgres]"
fi
[ -x "$VENV/bin/likavillkor-collector" ] || { echo "$VENV/bin/likavillkor-collector: missing" >&2; exit 1; }

step "4. $ETC"
install -d -m 0750 -o root -g "$SVC_USER" "$ETC" "$ETC/tls"
install -m 0644 "$TLS_DIR/server.crt" "$TLS_DIR/ca.crt" "$ETC/tls/"
install -m 0600 "$TLS_DIR/server.key" "$ETC/tls/"            # root only: LoadCredential= hands it over
install -m 0640 -g "$SVC_USER" "$ROSTER" "$ETC/roster.toml"
install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$STATE"   # the unit's StateDirectory= (users.toml lives here)

step "5. broker credentials and the devices' agent configs in $CRED"
"$VENV/bin/likavillkor-collector" broker-credentials --roster "$ETC/roster.toml" --out "$CRED" \
  --mqtt-url "mqtts://$HOSTNAME_:$MQTT_PORT" --collector-url "https://$HOSTNAME_:$HTTP_PORT" \
  --reflector "$HOSTNAME_:$REFLECTOR_PORT" --ca-file "$DEVICE_CA" \
  --collector-ca-file "$ETC/tls/ca.crt" --group "$SVC_USER"

step "6. Mosquitto"
install -d -m 0755 "$P/etc/mosquitto/conf.d"
install -d -m 0750 -o root -g mosquitto "$P/etc/mosquitto/tls"
install -m 0640 -o root -g mosquitto "$TLS_DIR/ca.crt" "$TLS_DIR/server.crt" "$TLS_DIR/server.key" \
  "$P/etc/mosquitto/tls/"
sed -e "s#^listener 8883#listener $MQTT_PORT#" "$SRC/deploy/mosquitto/conf.d/likavillkor.conf" | paths \
  > "$P/etc/mosquitto/conf.d/likavillkor.conf"
chmod 0644 "$P/etc/mosquitto/conf.d/likavillkor.conf"
ln -sfn "$CRED/broker/auth.conf" "$P/etc/mosquitto/conf.d/likavillkor-auth.conf"
if [ -n "$P" ] && [ ! -e "$P/etc/mosquitto/mosquitto.conf" ]; then
  # a throw-away root: Debian's main file, its paths moved too
  sed -e "s#/run/mosquitto#$P/run/mosquitto#" -e "s#/var/lib/mosquitto#$P/var/lib/mosquitto#" \
      -e "s#/var/log/mosquitto#$P/var/log/mosquitto#" -e "s#/etc/mosquitto/conf.d#$P/etc/mosquitto/conf.d#" \
      /etc/mosquitto/mosquitto.conf > "$P/etc/mosquitto/mosquitto.conf"
  chmod 0644 "$P/etc/mosquitto/mosquitto.conf"
  install -d -o mosquitto -g mosquitto "$P/var/lib/mosquitto"
fi

step "7. PostgreSQL role and database"
systemctl enable --now postgresql
LIKAVILLKOR_CREDENTIALS="$CRED" "$SRC/deploy/host/postgres-setup.sh"

step "8. InfluxDB 1.x (loopback, authentication, retention ${RETENTION_DAYS}d)"
install -d -m 0755 "$P/etc/influxdb"
sed -e "s#127.0.0.1:8086#127.0.0.1:$INFLUX_PORT#" -e "s#127.0.0.1:8088#127.0.0.1:$INFLUX_RPC_PORT#" \
  "$SRC/deploy/host/influxdb.conf" | paths > "$P/etc/influxdb/influxdb.conf"
chmod 0644 "$P/etc/influxdb/influxdb.conf"
if [ -n "$P" ]; then install -d -o influxdb -g influxdb "$P/var/lib/influxdb"; fi
systemctl enable influxdb
systemctl restart influxdb
LIKAVILLKOR_CREDENTIALS="$CRED" LIKAVILLKOR_INFLUX_URL="http://127.0.0.1:$INFLUX_PORT" \
  LIKAVILLKOR_RETENTION_DAYS="$RETENTION_DAYS" "$SRC/deploy/host/influxdb1-setup.sh"

step "9. $ETC/collector.toml"
if [ ! -e "$ETC/collector.toml" ]; then   # yours after the first run: edit it, it is kept
  store_url="$(sed -n 's#^LIKAVILLKOR_COLLECTOR__STORE__URL=##p' "$CRED/store.env")"
  influx_pw="$(sed -n 's#^LIKAVILLKOR_COLLECTOR__INFLUX__PASSWORD=##p' "$CRED/influx.env")"
  sed -e "s#@HOSTNAME@#$HOSTNAME_#g" -e "s#@MQTT_PORT@#$MQTT_PORT#g" -e "s#@HTTP_PORT@#$HTTP_PORT#g" \
      -e "s#@REFLECTOR_PORT@#$REFLECTOR_PORT#g" -e "s#@INFLUX_PORT@#$INFLUX_PORT#g" \
      -e "s#@RETENTION_DAYS@#$RETENTION_DAYS#g" -e "s#@STORE_URL@#$store_url#g" \
      -e "s#@INFLUX_PASSWORD@#$influx_pw#g" "$SRC/deploy/host/collector.toml" | paths > "$ETC/collector.toml.new"
  chgrp "$SVC_USER" "$ETC/collector.toml.new" && chmod 0640 "$ETC/collector.toml.new"
  mv "$ETC/collector.toml.new" "$ETC/collector.toml"
fi

step "10. systemd: likavillkor-collector"
install -d -m 0755 "$P/etc/systemd/system"
sed -e "s#^User=likavillkor#User=$SVC_USER#" -e "s#^Group=likavillkor#Group=$SVC_USER#" \
  "$SRC/deploy/systemd/likavillkor-collector.service" | paths \
  > "$P/etc/systemd/system/likavillkor-collector.service"
chmod 0644 "$P/etc/systemd/system/likavillkor-collector.service"
systemctl daemon-reload
systemctl restart mosquitto
systemctl enable likavillkor-collector
systemctl restart likavillkor-collector
for _ in $(seq 1 120); do   # up when it answers over HTTPS (migrations run first)
  curl -fs -o /dev/null --max-time 2 --cacert "$ETC/tls/ca.crt" "https://$HOSTNAME_:$HTTP_PORT/login" && break
  sleep 1
done
curl -fsS -o /dev/null --max-time 5 --cacert "$ETC/tls/ca.crt" "https://$HOSTNAME_:$HTTP_PORT/login" || {
  echo "the collector does not answer on https://$HOSTNAME_:$HTTP_PORT/: journalctl -u likavillkor-collector" >&2
  exit 1
}
step "done: https://$HOSTNAME_:$HTTP_PORT/ (the devices' configs: $CRED/devices/)"

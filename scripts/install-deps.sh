#!/usr/bin/env bash
# Installs what Likavillkor needs, idempotently.  Usage: install-deps.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want() { for p in "$@"; do have "$p" || need+=("$p"); done; }

want mosquitto python3-venv
# the agent's in-meeting microphone watch (issue 14): PortAudio, ALSA's pulse plugin, pactl (mute, ports)
want libportaudio2 libasound2-plugins pulseaudio-utils
if [ "$mode" = "test" ]; then
  # real servers and tools for the test suite, all from the distribution's packages
  want mosquitto-clients postgresql influxdb victoria-metrics chromium nftables iproute2 openssl
  # tests/deploy: systemd-analyze checks the shipped units (deploy/systemd); the host install
  # (deploy/host/install.sh) and the Debian package need curl and adduser (dpkg-deb is in dpkg)
  want systemd curl adduser
  # tests/media: a real sound server (a null sink and its monitor as the microphone, pacat to play into it)
  want pulseaudio
  # tests/web: WebKit, the iPad's engine (WebKitWebDriver + MiniBrowser under Xvfb, through selenium)
  want webkit2gtk-driver xvfb
  # tests/ha: HAProxy in front of two collectors, health-checked on the leader endpoint (issue 17)
  want haproxy
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from the distribution: ${need[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts these as system services on install; the tests start their own on free ports.
if [ "$mode" = "test" ]; then
  for svc in mosquitto influxdb victoria-metrics postgresql haproxy; do
    if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  done
fi

py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then "$py" -m venv .venv; fi
stamp=".venv/.likavillkor-$mode-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  if [ "$mode" = "test" ]; then
    .venv/bin/python -m pip install -q -e ".[dev,grafana]"
  else
    .venv/bin/python -m pip install -q -e ".[agent,collector]"
  fi
  touch "$stamp"
fi

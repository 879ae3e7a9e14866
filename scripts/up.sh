#!/usr/bin/env bash
# The README's first command: a working Likavillkor on this machine, in the foreground.
#   - installs Mosquitto and the Python packages when missing (scripts/install-deps.sh run)
#   - creates data/ with a demo roster: one meeting starting now, this machine as the remote member
#   - starts the collector (private Mosquitto on loopback, SQLite in data/) and a local agent
#     (likavillkor-agent monitor) that publishes this machine's samples
# Stopping the agent alone (kill its PID, printed below) leaves the collector running: the demo member
# turns lost and the chair's view says Ajournera (H15). Ctrl-C stops both.  Environment: LIKAVILLKOR_HTTP_PORT (default 8860), LIKAVILLKOR_DATA (default data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh run

PY=.venv/bin/python
PORT="${LIKAVILLKOR_HTTP_PORT:-8860}"
DATA="${LIKAVILLKOR_DATA:-data}"
mkdir -p "$DATA"

DEVICE_ID="$($PY - <<'PYEOF'
try:
    from agent.config import load_agent_config
    print(load_agent_config(None).resolved_device_id)
except Exception:
    import re, socket
    print((re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("-.") or "device")[:64])
PYEOF
)"

if [ ! -f "$DATA/roster.toml" ]; then
  $PY - "$DATA/roster.toml" "$DEVICE_ID" <<'PYEOF'
import datetime as dt, sys
path, device = sys.argv[1], sys.argv[2]
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(hours=3)
open(path, "w", encoding="utf-8").write(f"""# Demo roster written by scripts/up.sh: one meeting starting now, this machine as the remote member.
# The format is described in README.md and deploy/roster.example.toml.
[[meeting]]
id = "demo-{now:%Y%m%d-%H%M}"
body = "kommunstyrelsen"
start = {start.isoformat()}
end = {end.isoformat()}
room = "Sessionssalen"

[[meeting.participant]]
name = "Demo Ledamot"
member_id = "demo.ledamot"
device_id = "{device}"
""")
PYEOF
  echo "wrote a demo roster: $DATA/roster.toml (device $DEVICE_ID)"
fi

if [ ! -f "$DATA/policy.toml" ]; then
  cat > "$DATA/policy.toml" <<TOML
# Written by scripts/up.sh for the demo. This machine runs no meeting program (Teams, Compodium), so
# its network counters show no video stream: the "media stopped" byte-rate warning is switched off
# here (below 0 kbit/s never happens). Every other limit is the shipped default
# (likavillkor/data/policy.toml, each with its source).
[defaults.limits.rx_kbps]
warn = 0.0
source = "scripts/up.sh demo: no meeting program runs on this machine"
[defaults.limits.tx_kbps]
warn = 0.0
source = "scripts/up.sh demo: no meeting program runs on this machine"
TOML
fi

if [ ! -f "$DATA/collector.toml" ]; then
  cat > "$DATA/collector.toml" <<TOML
# Written by scripts/up.sh. All keys: deploy/collector.example.toml
data_dir = "$DATA"
roster = "$DATA/roster.toml"
policy = "$DATA/policy.toml"
[mqtt]
url = ""            # empty: the collector runs its own Mosquitto on loopback
[http]
host = "127.0.0.1"
port = $PORT
TOML
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

$PY -m collector run --config "$DATA/collector.toml" &
COLLECTOR_PID=$!
pids+=($COLLECTOR_PID)
AGENT_PID=""

API="http://127.0.0.1:$PORT"
BROKER=""
for _ in $(seq 1 100); do
  BROKER="$($PY - "$API" "$DATA" <<'PYEOF' 2>/dev/null || true
import sys, httpx
from collector.auth import client_headers
h = httpx.get(sys.argv[1] + "/api/health", headers=client_headers(sys.argv[2]), timeout=1).json()
print(h["broker"]["url"] if h["broker"]["connected"] else "")
PYEOF
)"
  [ -n "$BROKER" ] && break
  sleep 0.2
done
if [ -z "$BROKER" ]; then echo "the collector did not come up on $API" >&2; exit 1; fi

if $PY -c "import agent.cli" 2>/dev/null; then
  MICWATCH=false
  if command -v pactl >/dev/null 2>&1 && timeout 3 pactl info >/dev/null 2>&1; then MICWATCH=true; fi
  cat > "$DATA/agent.toml" <<TOML
# Written by scripts/up.sh for the local agent. All keys: deploy/agent.example.toml
device_id = "$DEVICE_ID"
data_dir = "$DATA/agent"
[mqtt]
url = "$BROKER"
[collector]
url = "$API"
# the microphone beside the meeting program (issue 14): only where a sound server answers, so a
# demo machine without one does not show its member as having no microphone
[micwatch]
enabled = $MICWATCH
TOML
  .venv/bin/likavillkor-agent monitor --config "$DATA/agent.toml" &
  AGENT_PID=$!
  pids+=($AGENT_PID)
  AGENT="local agent: device id $DEVICE_ID, pid $AGENT_PID (likavillkor-agent monitor --config $DATA/agent.toml)
              stop it (kill $AGENT_PID) to watch the member become lost and the chair's view say Ajournera"
else
  AGENT="local agent: not installed yet (agent/cli.py missing); publish as device $DEVICE_ID to $BROKER"
fi

# A sign-in for the demo: an IT user (sees everything) with a fresh password, shown once.
LOGIN="see $DATA/demo-login.txt"
if [ ! -f "$DATA/demo-login.txt" ]; then
  PASSWORD="$($PY -c 'import secrets; print(secrets.token_urlsafe(12))')"
  echo "$PASSWORD" | .venv/bin/likavillkor-collector users --users "$DATA/users.toml" add-user demo --role it \
    --name "Demo IT" >/dev/null
  (umask 077; printf 'user: demo\npassword: %s\n' "$PASSWORD" > "$DATA/demo-login.txt")
  LOGIN="user demo, password $PASSWORD (also in $DATA/demo-login.txt)"
fi
MEETING="$($PY -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["meeting"][0]["id"])' "$DATA/roster.toml")"

cat <<MSG

Likavillkor is running.
  chair view: $API/chair/$MEETING   (sign in: $LOGIN)
  API:        $API/api/meetings      (OpenAPI docs: $API/docs, health: $API/api/health;
              from this host: curl -H "Authorization: Bearer \$(cat $DATA/api-token.local)" ...)
  MQTT:       $BROKER (private Mosquitto, loopback only)
  $AGENT
  data:       $DATA/ (SQLite database, roster, configs)
Ctrl-C stops both.
MSG
# Run until the collector stops (or Ctrl-C). The agent may stop on its own: that is the demo of a
# member who loses contact (README), not a reason to stop the collector (issue 11).
while kill -0 "$COLLECTOR_PID" 2>/dev/null; do
  wait -n "${pids[@]}" 2>/dev/null || true
  if [ -n "$AGENT_PID" ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
    echo "the local agent (pid $AGENT_PID) stopped; the collector runs on: the member turns lost (H15). Ctrl-C stops the collector."
    pids=("$COLLECTOR_PID")
    AGENT_PID=""
  fi
done

#!/usr/bin/env bash
# Every benchmark in its short form, one after another, output in $BENCH_OUT (default /tmp/likavillkor-bench).
#   sudo bench/run_all.sh          # short forms (~15 min)
#   sudo bench/run_all.sh --long   # the long forms of issue 8 (5,000 devices x 10 min, 50 cuts, 30 min clean)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT="${BENCH_OUT:-/tmp/likavillkor-bench}"
mkdir -p "$OUT"
long=0
[ "${1:-}" = "--long" ] && long=1
run() { local name=$1; shift; echo "== $name: $*"; "$@" 2>&1 | tee "$OUT/$name.txt"; }
{ echo "nproc $(nproc)"; grep -m1 'model name' /proc/cpuinfo; grep MemTotal /proc/meminfo; uname -r; date -u; } \
  | tee "$OUT/machine.txt"
run ingest $PY bench/bench_ingest.py
run runtime_ingest $PY bench/bench_runtime_ingest.py
run engine $PY bench/bench_engine.py
run participants_memory $PY bench/bench_participants_memory.py
run frames $PY bench/bench_frames.py
run agent_footprint $PY bench/bench_agent_footprint.py
run loss $PY bench/bench_loss.py
run bandwidth $PY bench/bench_bandwidth.py
run e2e_latency $PY bench/bench_e2e_latency.py
run takeover $PY bench/bench_takeover.py --runs 20
run collector_takeover $PY bench/bench_collector_takeover.py --runs 20
run broker_failover $PY bench/bench_broker_failover.py --runs 20
if [ "$long" = 1 ]; then
  run load $PY bench/bench_load.py
  run fault_detection $PY bench/bench_fault_detection.py
  run false_alarms $PY bench/bench_false_alarms.py
else
  run load $PY bench/bench_load.py --devices 1000 --duration 60
  run fault_detection $PY bench/bench_fault_detection.py --reps 10
  run false_alarms $PY bench/bench_false_alarms.py --duration 300
fi

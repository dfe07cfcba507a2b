#!/bin/bash
# Usage: bash benches/abuse/before_after.sh BEFORE AFTER PAIRS (from any folder; it makes
# ba.db there). Alternates a fresh server of each binary, PAIRS times, each driven by
# `downwave loadgen --target compare --connections 128 --seconds 1 --rounds 12` from this
# repository's release build (the same load generator for both), and prints each run's
# summary line: /healthz and acknowledged report rates, their ratio, p99 at half load.
LOADGEN="$(cd "$(dirname "$0")/../.." && pwd)/target/release/downwave"
BEFORE=$1; AFTER=$2; PAIRS=${3:-3}; PORT=18953
run() {
  local label=$1 bin=$2
  rm -f ba.db ba.db-*
  $bin service add claude --name Claude --database ba.db >/dev/null 2>&1
  $bin serve --database ba.db --listen 127.0.0.1:$PORT --trusted-proxies 127.0.0.1/32 >ba-srv.log 2>&1 &
  local spid=$!
  sleep 1.5
  local line
  line=$("$LOADGEN" loadgen --addr 127.0.0.1:$PORT --target compare --connections 128 \
    --seconds 1 --rounds 12 2>&1 | tail -1)
  kill $spid; wait $spid 2>/dev/null
  echo "$label: $line"
}
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) -eq 1 ]; then run before "$BEFORE"; run after "$AFTER"
  else run after "$AFTER"; run before "$BEFORE"; fi
done

#!/bin/bash
# Usage: bash benches/abuse/server_cpu.sh BINARY LABEL reports|healthz (from any folder; it makes
# c.db there). Needs a release build of this repository for the load generator.
# The server's CPU time per request over a 4-second closed-loop run of `downwave loadgen`.
LOADGEN="$(cd "$(dirname "$0")/../.." && pwd)/target/release/downwave"
BIN=$1; LABEL=$2; TARGET=$3; PORT=18951
rm -f c.db c.db-*
$BIN service add claude --name Claude --database c.db >/dev/null 2>&1
$BIN serve --database c.db --listen 127.0.0.1:$PORT --trusted-proxies 127.0.0.1/32 >srv.log 2>&1 &
SPID=$!
sleep 1.5
t0=$(awk '{print $14+$15}' /proc/$SPID/stat)
"$LOADGEN" loadgen --addr 127.0.0.1:$PORT --target $TARGET --connections 128 --seconds 4 > c-$LABEL.txt 2>&1
t1=$(awk '{print $14+$15}' /proc/$SPID/stat)
kill $SPID; wait $SPID 2>/dev/null
n=$(grep -oE "(reports|healthz) +[0-9]+ req" c-$LABEL.txt | head -1 | awk "{print \$2}")
tck=$(getconf CLK_TCK)
echo "$LABEL $TARGET: $n requests, server CPU $(( (t1-t0) * 1000000 / tck / n )) us/request, $(grep -oE '[0-9]+ req/s' c-$LABEL.txt | head -1)"

#!/bin/bash
# w3dag bench over HTTP, two builds alternating (BEFORE, AFTER), ROUNDS rounds: each run starts
# `serve` on a fresh data folder (fs blobs, default kv), then `bench` C=32 × 1 invocation a message
# and 8 senders × 100 a message against the same server. Prints one JSON summary line per bench and
# the server's CPU time (utime+stime from /proc/PID/stat) per invocation of each.
#   BEFORE=/tmp/base-w3dag AFTER=/tmp/new-w3dag ROUNDS=3 bash docs/bench-metrics.sh
set -e
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18461}
for r in $(seq 1 "$ROUNDS"); do
  for which in before after; do
    if [ $which = before ]; then B=$BEFORE; else B=$AFTER; fi
    D=$(mktemp -d /tmp/bench-metrics.XXXX)
    $B serve --data $D/data --listen 127.0.0.1:$PORT >$D/serve.log 2>&1 &
    SP=$!
    for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
    export W3DAG_CONFIG=$D/cfg W3DAG_URL=http://127.0.0.1:$PORT
    $B space new >/dev/null
    echo "round $r $which load $(cut -d' ' -f1 /proc/loadavg)"
    cpu() { awk '{print $14+$15}' /proc/$SP/stat; }
    c0=$(cpu); $B bench --per-message 1 --concurrency 32 --count 5000 --json
    c1=$(cpu); $B bench --per-message 100 --concurrency 8 --count 10000 --json
    c2=$(cpu)
    tick=$(getconf CLK_TCK)
    echo "server cpu µs/inv: C=32 $(( (c1-c0)*1000000/tick/5000 )) batched $(( (c2-c1)*1000000/tick/10000 ))"
    kill $SP; wait $SP 2>/dev/null || true
    rm -rf $D
  done
done

#!/bin/bash
# w3dag bench over HTTP with the JSON log exporter and the archiving of the service's own
# invocations switched off and on, alternating, ROUNDS rounds, one build. Each run starts
# `serve` on a fresh data folder (fs blobs, default kv) with the flags of one configuration,
# runs `bench` C=32 × 1 invocation a message and 8 senders × 100 a message, waits 3 s (the
# exporter catches up: --logs-interval is 1 s), and prints the invocations/s and p99 of
# both, the server's CPU time (utime+stime, /proc/PID/stat) per invocation over both
# benches and the wait, and how many receipt lines were exported.
#   W3DAG=/tmp/w3dag ROUNDS=5 bash docs/bench-logs.sh
# CONFIGS lists the configurations, name=flags separated by ";" (default: off and on).
set -eu
ROUNDS=${ROUNDS:-5}
PORT=${PORT:-18391}
B=${W3DAG:?W3DAG=path of the w3dag binary}
CONFIGS=${CONFIGS:-off=--logs=false --archive-self=false;on=--logs=true --archive-self=true}
tick=$(getconf CLK_TCK)
summary() { python3 -c 'import json,sys;r=json.load(sys.stdin);print(round(r["invocationsPerSecond"]),"inv/s p99",r["p99ms"],"ms")'; }
IFS=';' read -r -a configs <<<"$CONFIGS"
for r in $(seq 1 "$ROUNDS"); do
  for cfg in "${configs[@]}"; do
    name=${cfg%%=*} flags=${cfg#*=}
    D=$(mktemp -d /tmp/bench-logs.XXXX)
    # shellcheck disable=SC2086 # flags are words
    $B serve --data $D/data --listen 127.0.0.1:$PORT $flags --log-level error >$D/serve.log 2>&1 &
    SP=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
    export W3DAG_CONFIG=$D/cfg W3DAG_URL=http://127.0.0.1:$PORT
    c0=$(awk '{print $14+$15}' /proc/$SP/stat)
    a=$($B bench --per-message 1 --concurrency 32 --count 5000 --json | summary)
    b=$($B bench --per-message 100 --concurrency 8 --count 10000 --json | summary)
    sleep 3
    c1=$(awk '{print $14+$15}' /proc/$SP/stat)
    lines=$(cat $D/data/blobs/logs/receipt/*/*/*.jsonl 2>/dev/null | wc -l)
    echo "round $r $name load $(cut -d' ' -f1 /proc/loadavg): C=32 $a; batched $b; server cpu µs/inv $(( (c1-c0)*1000000/tick/15000 )); receipt lines $lines"
    kill $SP; wait $SP 2>/dev/null || true
    rm -rf $D
  done
done

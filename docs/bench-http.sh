#!/bin/bash
# w3dag bench over HTTP, builds alternating, ROUNDS rounds: each run starts `serve` on a fresh
# data folder with the defaults (pebble, fs, --logs and --archive-self on), runs `bench`
# C=32 × 1 invocation a message (N1 invocations), then 8 senders × 100 a message (N2), and
# prints for each phase the invocations/s, the p99, the server's CPU per invocation
# (utime+stime from /proc/PID/stat over the phase) and bench's own (its rusage, signing
# included): on a loaded machine the CPU figures are what to compare.
#   ROUNDS=3 bash docs/bench-http.sh /tmp/w3dag-base /tmp/w3dag-new
set -eu
ROUNDS=${ROUNDS:-3}
N1=${N1:-10000}
N2=${N2:-20000}
PORT=${PORT:-18591}
tick=$(getconf CLK_TCK)
# phase BIN PER_MESSAGE CONCURRENCY COUNT: "inv/s p99 client-µs/inv"
phase() {
  python3 - "$@" <<'PY'
import json, resource, subprocess, sys
b, pm, c, n = sys.argv[1:]
out = subprocess.run([b, "bench", "--per-message", pm, "--concurrency", c, "--count", n, "--json"],
                     capture_output=True, text=True, check=True).stdout
r = json.loads(out)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(round(r["invocationsPerSecond"]), r["p99ms"], round((ru.ru_utime + ru.ru_stime) * 1e6 / int(n)))
PY
}
for r in $(seq 1 "$ROUNDS"); do
  for B in "$@"; do
    D=$(mktemp -d /tmp/bench-http.XXXX)
    "$B" serve --data "$D/data" --listen 127.0.0.1:$PORT --log-level error >"$D/serve.log" 2>&1 &
    SP=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null && break; sleep 0.1; done
    export W3DAG_CONFIG=$D/cfg W3DAG_URL=http://127.0.0.1:$PORT
    c0=$(awk '{print $14+$15}' /proc/$SP/stat)
    read -r a1 a2 a3 <<<"$(phase "$B" 1 32 "$N1")"
    c1=$(awk '{print $14+$15}' /proc/$SP/stat)
    read -r b1 b2 b3 <<<"$(phase "$B" 100 8 "$N2")"
    c2=$(awk '{print $14+$15}' /proc/$SP/stat)
    echo "round $r $B load $(cut -d' ' -f1 /proc/loadavg) | C=32: $a1 inv/s p99 $a2 ms server $(( (c1-c0)*1000000/tick/N1 )) µs/inv client $a3 µs/inv | batched: $b1 inv/s p99 $b2 ms server $(( (c2-c1)*1000000/tick/N2 )) µs/inv client $b3 µs/inv"
    kill $SP; wait $SP 2>/dev/null || true
    rm -rf "$D"
  done
done

#!/bin/bash
# Server peak RSS, phase by phase (docs/PERFORMANCE.md, "Server peak RSS"): `w3dag serve`
# with the defaults on a fresh data folder, `w3dag up --no-wrap` of a 1 GiB random file,
# one deserialized GET and one ?format=car GET of it; VmHWM/VmRSS and anonymous vs
# file-backed RSS after each phase.
#   B=/tmp/w3dag bash docs/bench-rss.sh [extra serve flags...]
set -e
B=${B:-/tmp/w3dag}
PORT=${PORT:-18531}
D=$(mktemp -d /tmp/bench-rss.XXXX)
head -c $((1<<30)) /dev/urandom > $D/big.bin
$B serve --data $D/data --listen 127.0.0.1:$PORT "$@" >$D/serve.log 2>&1 &
SP=$!
trap "kill $SP 2>/dev/null; wait $SP 2>/dev/null; rm -rf $D" EXIT
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$PORT/ && break; sleep 0.2; done
st() { echo "$1: $(grep -E 'VmHWM|VmRSS' /proc/$SP/status | tr -s ' \n' ' ')| $(grep -E '^(Anonymous|Rss)' /proc/$SP/smaps_rollup | tr -s ' \n' ' ')"; }
st idle
export W3DAG_CONFIG=$D/cfg W3DAG_URL=http://127.0.0.1:$PORT
$B space new >/dev/null
ROOT=$(/usr/bin/time -f "up: %e s, client max RSS %M KiB" $B up --json --no-wrap $D/big.bin 2>$D/up.err | grep '"upload"' | sed 's/.*"root":"\([^"]*\)".*/\1/')
tail -1 $D/up.err
st after-up
echo "GET first byte / total / bytes: $(curl -s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}' http://127.0.0.1:$PORT/ipfs/$ROOT)"
st after-get
echo "GET ?format=car first byte / total / bytes: $(curl -s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}' "http://127.0.0.1:$PORT/ipfs/$ROOT?format=car")"
st after-car
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/bin/bash
# GET /ipfs/{root} of a 1 GiB file: time to first byte, total, ratio to sha256sum of the file, server peak RSS.
set -e
B=${B:-/tmp/carcheck-w3dag}
D=$(mktemp -d /tmp/carcheck-gw.XXXX)
head -c $((1<<30)) /dev/urandom > $D/big.bin
$B serve --data $D/data --listen 127.0.0.1:18431 >$D/serve.log 2>&1 &
SP=$!
trap "kill $SP 2>/dev/null; rm -rf $D" EXIT
sleep 2
export W3DAG_CONFIG=$D/cfg W3DAG_URL=http://127.0.0.1:18431
$B space new >/dev/null
ROOT=$($B up --json --no-wrap $D/big.bin 2>/dev/null | grep '"upload"' | sed 's/.*"root":"\([^"]*\)".*/\1/')
echo root=$ROOT
for i in 1 2 3; do
  S=$( { /usr/bin/time -f %e sha256sum $D/big.bin >/dev/null; } 2>&1 )
  G=$(curl -s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}' http://127.0.0.1:18431/ipfs/$ROOT)
  C=$(curl -s -o /dev/null -w '%{time_total} %{size_download}' "http://127.0.0.1:18431/ipfs/$ROOT?format=car")
  echo "run $i: sha256sum ${S}s; GET deserialized ttfb/total/bytes $G; GET ?format=car total/bytes $C"
done
grep VmHWM /proc/$SP/status

#!/bin/sh
# Regenerates testdata/ipfs-car-roots.txt: writes the inputs of unixfs_test.carCases and
# packs each with `ipfs-car pack` (npm ipfs-car@3.1.0). Each line: case, arguments, root CID.
# Usage (from client/unixfs): sh testdata/ipfs-car.sh > testdata/ipfs-car-roots.txt
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
W3DAG_UNIXFS_CASES=$dir go test -count=1 -run '^TestWriteCases$' . >/dev/null
pack() { # case, then pack arguments relative to the case's directory
	c=$1; shift
	root=$(cd "$dir/$c" && npx --yes ipfs-car@3.1.0 pack "$@" --output "$dir/out.car")
	echo "$c $* $root"
}
for c in empty one mib mibplus1 multi; do
	pack $c $c.bin
	pack $c --no-wrap $c.bin
done
pack tree tree
pack tree tree/süß
pack tree --hidden tree
pack flat1000 flat
pack hamt1002 hamt

#!/usr/bin/env bash
# Fuzzes every Fuzz target of the module, one after another, for FUZZTIME each
# (default 30s). Fails on the first target that finds a failing input; go test
# saves it under the package's testdata/fuzz/, so it becomes a regular test case.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
FUZZTIME=${FUZZTIME:-30s}

# `go test -list` prints the matching names of a package, then "ok  <pkg> ...".
list=$(go test -list '^Fuzz' ./...)
targets=$(awk '/^Fuzz/ { names[n++] = $1; next }
	/^ok/ { for (i = 0; i < n; i++) print $2, names[i] }
	{ n = 0 }' <<<"$list")
if [[ -z $targets ]]; then
	echo "no Fuzz targets found"
	exit 0
fi
while read -r pkg name; do
	echo "==> $pkg $name ($FUZZTIME)"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg"
done <<<"$targets"

#!/usr/bin/env bash
# Runs every test of hull: installs the dependencies, runs the static checks,
# then all Go tests. Run it as root (sudo ./hack/test.sh): the integration
# tests mount overlays, chroot and start registries, and skip without root
# (under CI=true they fail instead, so a broken CI setup cannot pass silently).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.bin:/usr/local/go/bin:$PATH"

section() { printf '\n===== %s =====\n' "$*"; }

section "dependencies"
./hack/install-deps.sh

section "lint"
./hack/lint.sh

section "go test"
if [[ $(id -u) != 0 ]]; then
	echo "warning: not root; tests that need root will be skipped" >&2
fi
# `go test` also runs the seed corpus (f.Add and testdata/fuzz/) of every
# Fuzz test as ordinary test cases; `make fuzz` does the actual fuzzing.
# Nothing may print after this: CI reads go test's closing lines.
exec go test -count=1 -timeout 40m ./...

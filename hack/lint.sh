#!/usr/bin/env bash
# Static checks: gofmt, go vet, staticcheck (installed into .bin/ if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.bin:/usr/local/go/bin:$PATH"

./hack/install-deps.sh --tools

echo "==> gofmt -l"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path './.bin/*' -not -path '*/testdata/*' -print0 |
	xargs -0 -r gofmt -l)
if [[ -n $unformatted ]]; then
	echo "these files need gofmt -w:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "==> go vet ./..."
go vet ./...

echo "==> staticcheck ./..."
staticcheck ./...

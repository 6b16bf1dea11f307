#!/usr/bin/env bash
# Installs what hull's tests, lint and demo need. Idempotent and non-interactive;
# the Debian packages need root (skipped when they are all installed already).
#
#   ./hack/install-deps.sh          Debian packages + Go tools
#   ./hack/install-deps.sh --tools  Go tools only (staticcheck into .bin/)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: a real registry (docker-registry), reference
# clients (skopeo, podman, umoci), containerd (its runc shim runs hull's
# runtime), the static busybox the test images are made from, and basics.
PACKAGES=(docker-registry skopeo podman runc containerd busybox-static umoci iproute2 nftables ca-certificates git make)
STATICCHECK_VERSION=v0.8.2

export PATH="/usr/local/go/bin:$PATH"

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		echo "install-deps: Debian packages present"
		return
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "install-deps: missing Debian packages: ${missing[*]}; run as root (sudo $0)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt/dpkg run holding the lock instead of failing.
	local apt=(apt-get -q -y -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confold)
	"${apt[@]}" update </dev/null
	"${apt[@]}" install "${missing[@]}" </dev/null
}

install_tools() {
	if ! command -v go >/dev/null; then
		echo "install-deps: no go in PATH or /usr/local/go/bin; install Go $(sed -n 's/^go //p' go.mod)" >&2
		exit 1
	fi
	local bin=$PWD/.bin
	# Reuse .bin/staticcheck only if it is this version built by this Go
	# (staticcheck cannot load packages for a newer Go than it was built with).
	if [[ -x $bin/staticcheck ]] &&
		go version -m "$bin/staticcheck" 2>/dev/null | grep -q "honnef.co/go/tools[[:space:]]*${STATICCHECK_VERSION}" &&
		[[ $(go version "$bin/staticcheck" | awk '{print $2}') == "$(go env GOVERSION)" ]]; then
		echo "install-deps: staticcheck ${STATICCHECK_VERSION} present"
		return
	fi
	echo "install-deps: installing staticcheck ${STATICCHECK_VERSION} into .bin/"
	GOBIN=$bin go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
}

case ${1:-} in
--tools) install_tools ;;
"") install_packages; install_tools ;;
*) echo "usage: $0 [--tools]" >&2; exit 2 ;;
esac

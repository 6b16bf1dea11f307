#!/usr/bin/env bash
# Regenerates the expect.json files of the Dockerfile corpus: builds every
# case with the reference builder (BuildKit: buildkitd + buildctl, the
# engine and Dockerfile frontend of `docker build`) and records the image it
# made; then builds it again with Debian's dockerd 20.10 (DOCKER_BUILDKIT=1)
# and with buildah, and records how their images differ. See README.md.
#
#   sudo ./build/testdata/dockerfiles/regen.sh                 # every case
#   sudo CASES="mounts add-url" ./build/testdata/dockerfiles/regen.sh
#   sudo COMPARE="" ./build/testdata/dockerfiles/regen.sh      # reference only
#
# Everything runs in private network and mount namespaces (like
# bench/network.sh): the daemons' bridges, firewall rules, registry and HTTP
# server never touch the host, and are gone when it ends.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CORPUS=$(dirname "$SELF")
# shellcheck source=bench/lib.sh
. "$CORPUS/../../../bench/lib.sh"

BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
BUILDKIT_DIR=${BUILDKIT_DIR:-/var/cache/hull-buildkit/$BUILDKIT_VERSION}
CASES=${CASES:-}
COMPARE=${COMPARE-"docker20 buildah"}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-300}
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

bench_init # root, bash 5, REPO, PATH (lib.sh)
PY=/usr/bin/python3
TOOL="$CORPUS/imgtool.py"

# ------------------------------------------------------ outside: the host --
if [ -z "${HULL_REGEN_WORK:-}" ]; then
	ensure_packages dockerd:docker.io docker:docker.io containerd-shim-runc-v2:containerd runc:runc \
		buildah:buildah dpkg:busybox-static docker-registry:docker-registry skopeo:skopeo \
		python3:python3 jq:jq iptables:iptables ip:iproute2 unshare:util-linux timeout:coreutils
	[ -x "$PY" ] || die "python3 is not installed"
	if [ ! -x "$BUILDKIT_DIR/buildkitd" ] || [ ! -x "$BUILDKIT_DIR/buildctl" ]; then
		command -v go >/dev/null || die "go not found in PATH (needed to build buildkitd)"
		log "building buildkitd and buildctl $BUILDKIT_VERSION from the Go module proxy into $BUILDKIT_DIR"
		src=$(mktemp -d)
		mkdir -p "$BUILDKIT_DIR"
		(
			cd "$src" && export GOFLAGS=-mod=mod CGO_ENABLED=0 &&
				go mod init hull-regen-buildkit >/dev/null 2>&1 &&
				go get "github.com/moby/buildkit@$BUILDKIT_VERSION" &&
				go build -ldflags "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
					-o "$BUILDKIT_DIR/" github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
		) >"$src/build.log" 2>&1 || { tail -20 "$src/build.log" >&2; rm -rf "$src"; die "cannot build buildkit"; }
		rm -rf "$src"
	fi
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hrg.XXXXXX")
	chmod 755 "$WORK"
	log "entering a private network and mount namespace (work directory $WORK)"
	export HULL_REGEN_WORK=$WORK
	exec unshare --net --mount --propagation private -- bash "$SELF" "$@"
fi

# ------------------------------------------- inside: private namespaces --
WORK=$HULL_REGEN_WORK
OUT="$WORK/out"
mkdir -p "$OUT" "$WORK/logs"
BKD="$WORK/bk" BK_SOCK="unix://$WORK/bk/buildkitd.sock"
# TMPDIR: buildah keeps its RUN --mount=type=cache directories there
# (/var/tmp/buildah-cache by default, shared by every run).
mkdir -p "$WORK/tmp"
BH=(env "TMPDIR=$WORK/tmp" buildah --root "$WORK/bh/r" --runroot "$WORK/bh/rr" --storage-driver overlay)
# podman's and buildah's default rlimits are above this host's hard limits
# (shared/HOST-NOTES.md), and crun fails on hybrid cgroup hosts: runc there.
read -r -a BH_OPTS <<<"$PODMAN_ULIMITS"
[ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] || BH_OPTS+=(--runtime runc)
PIDS=() # registry, buildkitd, http server

ns_procs() { # processes in this network namespace, other than this shell
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		[ "/proc/$p/ns/net" -ef "/proc/$$/ns/net" ] && echo "$p"
	done
	return 0
}
cleanup() {
	set +e
	local p left=()
	stop_dockerd
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	"${BH[@]}" rm -a >/dev/null 2>&1
	for _ in $(seq 1 10); do
		mapfile -t left < <(ns_procs)
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.2
	done
	if [ ${#left[@]} -gt 0 ]; then
		kill -TERM "${left[@]}" 2>/dev/null
		sleep 1
		mapfile -t left < <(ns_procs)
		[ ${#left[@]} -gt 0 ] && kill -KILL "${left[@]}" 2>/dev/null
	fi
	umount_under "$WORK"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The namespace's own sysfs over /sys (with the cgroup mounts bound back)
# and an empty /run, as in bench/network.sh.
sysfs="$WORK/sysfs"
mkdir -p "$sysfs"
mount -t sysfs sysfs "$sysfs" || die "cannot mount a sysfs"
while read -r m; do
	[ -d "$sysfs${m#/sys}" ] && mount --rbind "$m" "$sysfs${m#/sys}"
done < <(awk '$2 ~ "^/sys/" { print $2 }' /proc/mounts | sort |
	awk 'top == "" || index($0, top "/") != 1 { print; top = $0 }')
mount --move "$sysfs" /sys
case $WORK in /run/* | /var/run/*) ;; *) mount -t tmpfs -o mode=755 tmpfs /run ;; esac
ip link set lo up

# ---------------------------------------------------------------- cases --
ALL_CASES=()
for d in "$CORPUS"/*/; do
	[ -f "$d/expect.json" ] && ALL_CASES+=("$(basename "$d")")
done
if [ -n "$CASES" ]; then read -r -a WANT <<<"$CASES"; else WANT=("${ALL_CASES[@]}"); fi
# Dependencies first (build.depends), each case once.
ORDER=()
declare -A SEEN=()
add_case() {
	local c=$1 dep
	[ -n "${SEEN[$c]:-}" ] && return 0
	[ -f "$CORPUS/$c/expect.json" ] || die "no case $c"
	SEEN[$c]=1
	for dep in $(jq -r '.build.depends // [] | .[]' "$CORPUS/$c/expect.json"); do add_case "$dep"; done
	ORDER+=("$c")
}
for c in "${WANT[@]}"; do add_case "$c"; done
log "cases: ${ORDER[*]}"

# Each case's context is a copy with normalised modes (directories and
# executables 0755, other files 0644), whatever the checkout's umask.
for c in "${ORDER[@]}"; do
	mkdir -p "$WORK/ctx"
	cp -a "$CORPUS/$c" "$WORK/ctx/$c"
	find "$WORK/ctx/$c" -type d -exec chmod 0755 {} +
	find "$WORK/ctx/$c" -type f -perm /111 -exec chmod 0755 {} +
	find "$WORK/ctx/$c" -type f ! -perm /111 -exec chmod 0644 {} +
done

# ------------------------------------------------------------- services --
# A registry on 127.0.0.1:5000 (buildkitd reads its base images from it, as
# a mirror of docker.io).
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $WORK/registry }, delete: { enabled: true } }
http: { addr: 127.0.0.1:5000 }
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/logs/registry.log" 2>&1 &
PIDS+=($!)

cat >"$WORK/buildkitd.toml" <<EOF
[registry."docker.io"]
  mirrors = ["127.0.0.1:5000"]
[registry."127.0.0.1:5000"]
  http = true
  insecure = true
EOF
mkdir -p "$BKD"
"$BUILDKIT_DIR/buildkitd" --root "$BKD" --addr "$BK_SOCK" --config "$WORK/buildkitd.toml" \
	--oci-worker-net host --containerd-worker false >"$WORK/logs/buildkitd.log" 2>&1 &
PIDS+=($!)
bctl() { "$BUILDKIT_DIR/buildctl" --addr "$BK_SOCK" "$@"; }

want_cmp() { [[ " $COMPARE " == *" $1 "* ]]; }
if want_cmp docker20; then
	start_dockerd "$WORK/docker" || die "$DOCKERD_ERR"
fi
for _ in $(seq 1 100); do bctl debug workers >/dev/null 2>&1 && break; sleep 0.2; done
bctl debug workers >/dev/null 2>&1 || { tail -5 "$WORK/logs/buildkitd.log" >&2; die "buildkitd did not start"; }
for _ in $(seq 1 50); do [ -n "$(ss -Htln 'sport = :5000' 2>/dev/null)" ] && break; sleep 0.1; done

# ----------------------------------------------------------- base image --
# busybox:latest: Debian's busybox-static as bench/lib.sh makes it, imported
# like `docker import --change 'ENV PATH=…' --change 'CMD ["sh"]'` (the
# config of Docker Hub's busybox). Every builder gets this same image.
make_busybox_rootfs "$WORK/rootfs"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
BASE="$OUT/busybox.tar"
if want_cmp docker20; then
	dk import --change "ENV $PATH_ENV" --change 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
	dk save -o "$BASE" busybox:latest
else
	# Without docker: buildah makes the same one-layer image.
	ctr=$("${BH[@]}" from scratch)
	"${BH[@]}" add "$ctr" "$WORK/busybox.tar" / >/dev/null
	"${BH[@]}" config --env "$PATH_ENV" --cmd sh "$ctr"
	"${BH[@]}" commit --format docker "$ctr" busybox:latest >/dev/null
	"${BH[@]}" push busybox:latest "docker-archive:$BASE:busybox:latest" >/dev/null
	"${BH[@]}" rmi -f busybox:latest >/dev/null
fi
skopeo copy -q --dest-tls-verify=false "docker-archive:$BASE" docker://127.0.0.1:5000/library/busybox:latest >/dev/null ||
	die "cannot push the base image to the local registry"
if want_cmp buildah; then
	"${BH[@]}" pull -q "docker-archive:$BASE" >/dev/null || die "buildah cannot load the base image"
fi

# ---------------------------------------------------------------- build --
jqc() { jq -r "$2" "$CORPUS/$1/expect.json"; }
first_line() { grep -v -E '^\s*$|^#[0-9]+ |^(STEP|-->|time=)' "$1" | grep -m1 -iE 'error|fail|unknown|not supported|invalid|denied' ||
	tail -1 "$1"; }
HTTP_PID=''
start_http() { # start_http DIR: serve DIR on 127.0.0.1:8080
	"$PY" -m http.server 8080 --bind 127.0.0.1 --directory "$1" >"$WORK/logs/http.log" 2>&1 &
	HTTP_PID=$!
	PIDS+=("$HTTP_PID")
	for _ in $(seq 1 50); do [ -n "$(ss -Htln 'sport = :8080' 2>/dev/null)" ] && break; sleep 0.1; done
}
stop_http() {
	if [ -n "$HTTP_PID" ]; then
		kill "$HTTP_PID" 2>/dev/null || true
		wait "$HTTP_PID" 2>/dev/null || true # killed: status 143
	fi
	HTTP_PID=''
}

# case_opts CASE: TAG, DF (the Dockerfile, absolute), and the options of
# the case in three dialects: BK (buildctl), DKO (docker build), BHO (buildah bud).
case_opts() {
	local c=$1 ctx="$WORK/ctx/$1" k v t
	TAG=$(jqc "$c" '.build.tag')
	DF="$ctx/$(jqc "$c" '.build.dockerfile // "Dockerfile"')"
	BK=(--frontend dockerfile.v0 --local "context=$ctx" --local "dockerfile=$(dirname "$DF")" --opt "filename=$(basename "$DF")")
	DKO=(-f "$DF") BHO=(-f "$DF")
	t=$(jqc "$c" '.build.target // empty')
	if [ -n "$t" ]; then BK+=(--opt "target=$t"); DKO+=(--target "$t"); BHO+=(--target "$t"); fi
	while IFS=$'\t' read -r k v; do
		[ -n "$k" ] || continue
		BK+=(--opt "build-arg:$k=$v") DKO+=(--build-arg "$k=$v") BHO+=(--build-arg "$k=$v")
	done < <(jqc "$c" '.build.args // {} | to_entries[] | [.key, .value] | @tsv')
	while IFS=$'\t' read -r k v; do
		[ -n "$k" ] || continue
		BK+=(--secret "id=$k,src=$ctx/$v") DKO+=(--secret "id=$k,src=$ctx/$v") BHO+=(--secret "id=$k,src=$ctx/$v")
	done < <(jqc "$c" '.build.secrets // {} | to_entries[] | [.key, .value] | @tsv')
	HTTP_DIR='' HTTP_ARG=''
	if [ "$(jqc "$c" '.build.serve_http // empty')" != "" ]; then
		HTTP_DIR="$ctx/$(jqc "$c" '.build.serve_http.dir')" HTTP_ARG=$(jqc "$c" '.build.serve_http.arg')
		BK+=(--opt "build-arg:$HTTP_ARG=http://127.0.0.1:8080") DKO+=(--build-arg "$HTTP_ARG=http://127.0.0.1:8080")
		BHO+=(--build-arg "$HTTP_ARG=http://127.0.0.1:8080")
	fi
}
bases() { # bases BUILDER CASE: --base options (busybox, and the images of the case's dependencies)
	local dep
	printf -- '--base\n%s\n' "$BASE"
	for dep in $(jqc "$2" '.build.depends // [] | .[]'); do
		[ -f "$OUT/$dep.$1.tar" ] && printf -- '--base\n%s\n' "$OUT/$dep.$1.tar"
	done
}
REF="buildkit $BUILDKIT_VERSION (buildkitd with the OCI worker and runc $(runc --version | awk 'NR == 1 { print $3 }'); buildctl --frontend dockerfile.v0)"
DEPENDED=$(jq -r '.build.depends // [] | .[]' "$CORPUS"/*/expect.json | sort -u | tr '\n' ' ')
FAILED=()
for c in "${ORDER[@]}"; do
	case_opts "$c"
	ctx="$WORK/ctx/$c"
	[ -n "$HTTP_DIR" ] && start_http "$HTTP_DIR"
	export IMGTOOL_HTTP_BASE=''
	[ -n "$HTTP_DIR" ] && export IMGTOOL_HTTP_BASE=http://127.0.0.1:8080
	# Reference: buildkitd. A tag that other cases build FROM is also pushed
	# to the registry, where buildkitd's FROM finds it (as docker.io/…).
	outs=(--output "type=docker,name=$TAG,dest=$OUT/$c.buildkit.tar")
	if [[ " $DEPENDED " == *" $c "* ]]; then
		outs+=(--output "type=image,name=127.0.0.1:5000/${TAG},push=true,registry.insecure=true")
	fi
	log "$c: buildkit"
	if ! timeout "$BUILD_TIMEOUT" "$BUILDKIT_DIR/buildctl" --addr "$BK_SOCK" build --progress plain "${BK[@]}" "${outs[@]}" \
		>"$WORK/logs/$c.buildkit.log" 2>&1; then
		log "$c: the reference build FAILED: $(first_line "$WORK/logs/$c.buildkit.log")"
		tail -15 "$WORK/logs/$c.buildkit.log" >&2
		FAILED+=("$c")
		stop_http
		continue
	fi
	mapfile -t b < <(bases buildkit "$c")
	"$PY" "$TOOL" dump "$OUT/$c.buildkit.tar" "${b[@]}" >"$OUT/$c.buildkit.json"
	if ! "$PY" "$TOOL" expect "$CORPUS/$c" "$OUT/$c.buildkit.json" "$REF" 2>"$WORK/logs/$c.expect.log"; then
		log "$c: $(tail -1 "$WORK/logs/$c.expect.log")"
		FAILED+=("$c")
		stop_http
		continue
	fi

	if want_cmp docker20; then
		log "$c: docker 20.10 (DOCKER_BUILDKIT=1)"
		if DOCKER_BUILDKIT=1 timeout "$BUILD_TIMEOUT" "${DOCKER[@]}" build --progress plain -t "$TAG" "${DKO[@]}" "$ctx" \
			>"$WORK/logs/$c.docker20.log" 2>&1 && dk save -o "$OUT/$c.docker20.tar" "$TAG"; then
			mapfile -t b < <(bases docker20 "$c")
			"$PY" "$TOOL" dump "$OUT/$c.docker20.tar" "${b[@]}" >"$OUT/$c.docker20.json"
			"$PY" "$TOOL" differs "$CORPUS/$c" docker20_differs "$OUT/$c.docker20.json" | sed "s/^/  docker20: /" >&2
		else
			"$PY" "$TOOL" differs "$CORPUS/$c" docker20_differs --failed "$(first_line "$WORK/logs/$c.docker20.log")" | sed "s/^/  docker20: /" >&2
		fi
	fi
	if want_cmp buildah; then
		log "$c: buildah bud"
		if timeout "$BUILD_TIMEOUT" "${BH[@]}" bud "${BH_OPTS[@]}" --format docker --layers -t "$TAG" "${BHO[@]}" "$ctx" \
			>"$WORK/logs/$c.buildah.log" 2>&1 && "${BH[@]}" push -q "$TAG" "docker-archive:$OUT/$c.buildah.tar:$TAG" >>"$WORK/logs/$c.buildah.log" 2>&1; then
			mapfile -t b < <(bases buildah "$c")
			"$PY" "$TOOL" dump "$OUT/$c.buildah.tar" "${b[@]}" >"$OUT/$c.buildah.json"
			"$PY" "$TOOL" differs "$CORPUS/$c" buildah_differs "$OUT/$c.buildah.json" | sed "s/^/  buildah: /" >&2
		else
			"$PY" "$TOOL" differs "$CORPUS/$c" buildah_differs --failed "$(first_line "$WORK/logs/$c.buildah.log")" | sed "s/^/  buildah: /" >&2
		fi
	fi
	stop_http
done

# The versions behind the expect.json files (when every case was built).
if [ -z "$CASES" ]; then
	{
		echo "{"
		echo "  \"reference\": $(jq -n --arg v "$REF" '$v'),"
		want_cmp docker20 && echo "  \"docker20\": $(jq -n --arg v "$(dockerd --version 2>/dev/null), client $("$DOCKER_CLI" --version 2>/dev/null), DOCKER_BUILDKIT=1" '$v'),"
		want_cmp buildah && echo "  \"buildah\": $(jq -n --arg v "$(buildah --version 2>/dev/null), bud --format docker --layers${BH_OPTS[*]:+ ${BH_OPTS[*]}}" '$v'),"
		echo "  \"base\": $(jq -n --arg v "busybox:latest = Debian busybox-static $(dpkg-query -W -f '${Version}' busybox-static) rootfs (bench/lib.sh make_busybox_rootfs), imported with ENV $PATH_ENV and CMD [\"sh\"]" '$v')"
		echo "}"
	} >"$CORPUS/builders.json"
fi

if [ ${#FAILED[@]} -gt 0 ]; then
	[ "$KEEP" = 1 ] || log "KEEP=1 keeps the logs"
	die "reference build failed for: ${FAILED[*]} (logs in $WORK/logs)"
fi
log "regenerated ${#ORDER[@]} expect.json files"

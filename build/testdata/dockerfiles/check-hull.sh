#!/usr/bin/env bash
# Builds every case of the Dockerfile corpus with `hull build` and prints how
# each image differs from the case's expect.json (the comparison of
# `imgtool.py compare`, described in README.md). It writes nothing here.
#
#   sudo ./build/testdata/dockerfiles/check-hull.sh
#   sudo CASES="mounts add-url" HULL=/path/to/hull ./build/testdata/dockerfiles/check-hull.sh
#
# It runs in private network and mount namespaces, like regen.sh. Its last
# line is "N passed, N failed"; the exit status is 1 when a case failed.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
CORPUS=$(dirname "$SELF")
# shellcheck source=bench/lib.sh
. "$CORPUS/../../../bench/lib.sh"
CASES=${CASES:-}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-300}
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
bench_init # root, bash 5, REPO, HULL (default ./bin/hull), PATH
PY=/usr/bin/python3
TOOL="$CORPUS/imgtool.py"

if [ -z "${HULL_CHECK_WORK:-}" ]; then
	ensure_packages dpkg:busybox-static python3:python3 jq:jq ip:iproute2 unshare:util-linux timeout:coreutils
	[ -x "$HULL" ] || die "no hull binary at $HULL (make build)"
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hck.XXXXXX")
	chmod 755 "$WORK"
	mkdir -p "$WORK/bin" && cp -p "$HULL" "$WORK/bin/hull"
	export HULL_CHECK_WORK=$WORK
	exec unshare --net --mount --propagation private -- bash "$SELF" "$@"
fi

WORK=$HULL_CHECK_WORK
HULL="$WORK/bin/hull"
HULL_ROOT="$WORK/hull/root" HULL_RUN="$WORK/hull/run" # for hl (lib.sh)
export HULL_NETWORK_DIR="$WORK/hull/network"
OUT="$WORK/out"
mkdir -p "$OUT" "$WORK/logs" "$HULL_ROOT" "$HULL_RUN" "$HULL_NETWORK_DIR"
HTTP_PID=''
ns_procs() {
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
	local left=()
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2>/dev/null
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

# Cases, dependencies first.
ALL_CASES=()
for d in "$CORPUS"/*/; do [ -f "$d/expect.json" ] && ALL_CASES+=("$(basename "$d")"); done
if [ -n "$CASES" ]; then read -r -a WANT <<<"$CASES"; else WANT=("${ALL_CASES[@]}"); fi
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

# The base image, as README.md says.
make_busybox_rootfs "$WORK/rootfs"
tar --numeric-owner -C "$WORK/rootfs" -cf "$WORK/busybox.tar" .
hl import --change "ENV $PATH_ENV" --change 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null ||
	die "hull import failed"
hl save -o "$OUT/busybox.tar" busybox:latest || die "hull save failed"

jqc() { jq -r "$2" "$CORPUS/$1/expect.json"; }
PASSED=() FAILED=()
for c in "${ORDER[@]}"; do
	ctx="$WORK/ctx/$c"
	mkdir -p "$WORK/ctx"
	cp -a "$CORPUS/$c" "$ctx"
	find "$ctx" -type d -exec chmod 0755 {} +
	find "$ctx" -type f -perm /111 -exec chmod 0755 {} +
	find "$ctx" -type f ! -perm /111 -exec chmod 0644 {} +
	tag=$(jqc "$c" '.build.tag')
	opts=(-t "$tag" -f "$ctx/$(jqc "$c" '.build.dockerfile // "Dockerfile"')")
	t=$(jqc "$c" '.build.target // empty')
	[ -n "$t" ] && opts+=(--target "$t")
	while IFS=$'\t' read -r k v; do [ -n "$k" ] && opts+=(--build-arg "$k=$v"); done < <(jqc "$c" '.build.args // {} | to_entries[] | [.key, .value] | @tsv')
	while IFS=$'\t' read -r k v; do [ -n "$k" ] && opts+=(--secret "id=$k,src=$ctx/$v"); done < <(jqc "$c" '.build.secrets // {} | to_entries[] | [.key, .value] | @tsv')
	export IMGTOOL_HTTP_BASE=''
	if [ -n "$(jqc "$c" '.build.serve_http // empty')" ]; then
		"$PY" -m http.server 8080 --bind 127.0.0.1 --directory "$ctx/$(jqc "$c" '.build.serve_http.dir')" >"$WORK/logs/http.log" 2>&1 &
		HTTP_PID=$!
		for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break; sleep 0.1; done
		IMGTOOL_HTTP_BASE=http://127.0.0.1:8080
		opts+=(--build-arg "$(jqc "$c" '.build.serve_http.arg')=$IMGTOOL_HTTP_BASE")
	fi
	lg="$WORK/logs/$c.log"
	echo "+ hull build ${opts[*]} $ctx" >"$lg"
	if timeout "$BUILD_TIMEOUT" "$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN" build "${opts[@]}" "$ctx" >>"$lg" 2>&1 &&
		hl save -o "$OUT/$c.tar" "$tag" >>"$lg" 2>&1; then
		b=(--base "$OUT/busybox.tar")
		for dep in $(jqc "$c" '.build.depends // [] | .[]'); do b+=(--base "$OUT/$dep.tar"); done
		"$PY" "$TOOL" dump "$OUT/$c.tar" "${b[@]}" >"$OUT/$c.json"
		"$PY" "$TOOL" compare "$CORPUS/$c/expect.json" "$OUT/$c.json" >"$OUT/$c.diff"
		if [ -s "$OUT/$c.diff" ]; then
			FAILED+=("$c")
			echo "FAIL $c"
			sed 's/^/    /' "$OUT/$c.diff"
		else
			PASSED+=("$c")
			echo "ok   $c"
		fi
	else
		FAILED+=("$c")
		echo "FAIL $c: build failed: $(grep -v '^+ ' "$lg" | grep -m1 -iE 'error|fail' || tail -1 "$lg")"
	fi
	if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; HTTP_PID=''; fi
done
echo "${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ ${#FAILED[@]} -eq 0 ]

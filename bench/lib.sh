# shellcheck shell=bash
# shellcheck disable=SC2034 # variables set here are used by the scripts that source it
# Functions shared by the benchmark scripts (start.sh, network.sh). Source it
# from a script in bench/ and call bench_init first:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   bench_init
#
# Apart from the defaults of a few shared environment variables (below), it
# only defines functions. Variables it sets or reads are named where used:
# REPO, HULL, WORK, HULL_ROOT/HULL_RUN, PODMAN_*, DOCKER*, CGFIX.

# Shared environment variables (documented in bench/README.md).
KEEP=${KEEP:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
PODMAN_ULIMITS=${PODMAN_ULIMITS-"--ulimit nofile=20000:20000 --ulimit nproc=32768:32768"}
DOCKER_CLI=${DOCKER_CLI:-$([ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker || true)}

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# bench_init checks for root and bash 5, sets REPO (the repository) and HULL
# (absolute path of the hull binary, default ./bin/hull), extends PATH and
# changes to REPO.
bench_init() {
	[ "$(id -u)" = 0 ] || die "must run as root (sudo $0)"
	[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later needed (EPOCHREALTIME)"
	REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	cd "$REPO" || die "cannot cd to $REPO"
	HULL=${HULL:-./bin/hull}
	case "$HULL" in /*) ;; *) HULL="$REPO/${HULL#./}" ;; esac
	export PATH="$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin"
}

# ensure_packages CMD:PKG... installs with apt-get every PKG whose CMD is not
# in PATH. "dpkg:PKG" checks for the package itself instead of a command.
ensure_packages() {
	local need=() spec cmd pkg
	for spec in "$@"; do
		cmd=${spec%%:*} pkg=${spec#*:}
		if [ "$cmd" = dpkg ]; then
			dpkg -s "$pkg" >/dev/null 2>&1 && continue
		else
			command -v "$cmd" >/dev/null 2>&1 && continue
		fi
		[[ " ${need[*]} " == *" $pkg "* ]] || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || log "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
		log "apt-get install failed; missing tools will be reported as skipped"
}

umount_under() { # unmount $1 and everything mounted below it, deepest first
	local d=${1%/}
	awk -v d="$d" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# timeit CMD... [:: CMD...] runs the commands in turn (stopping at the first
# failure) and sets LAST_US to the wall-clock microseconds they took, measured
# with bash's EPOCHREALTIME right around them (no date(1) forks in the timing).
timeit() {
	local t0 t1 rc=0 c=()
	t0=$EPOCHREALTIME
	while [ $# -gt 0 ]; do
		c=()
		while [ $# -gt 0 ] && [ "$1" != "::" ]; do c+=("$1"); shift; done
		[ $# -gt 0 ] && shift
		"${c[@]}" || { rc=$?; break; }
	done
	t1=$EPOCHREALTIME
	t0=${t0//[.,]/} t1=${t1//[.,]/}
	LAST_US=$((10#$t1 - 10#$t0))
	return $rc
}

# ensure_hull builds ./bin/hull when HULL is that default path and the file
# is missing (an existing binary is not rebuilt). Log in $WORK/hull-build.log.
ensure_hull() {
	[ ! -x "$HULL" ] && [ "$HULL" = "$REPO/bin/hull" ] || return 0
	log "building hull: CGO_ENABLED=0 go build -o bin/hull ./cmd/hull"
	CGO_ENABLED=0 go build -o bin/hull ./cmd/hull >"$WORK/hull-build.log" 2>&1 ||
		{ log "hull build failed (see below); hull will be reported as failed"; tail -5 "$WORK/hull-build.log" >&2; }
}

# build_helper NAME builds the Go program ./bench/NAME as $WORK/NAME.
build_helper() {
	local n=$1
	log "building bench/$n"
	if ! go build -o "$WORK/$n" "./bench/$n" >"$WORK/$n-build.log" 2>&1; then
		# go.mod may lag behind the helper's imports; resolve them in a
		# private copy of go.mod/go.sum so the work tree is left untouched.
		cp go.mod "$WORK/go.mod"; cp go.sum "$WORK/go.sum" 2>/dev/null || true
		go build -mod=mod -modfile="$WORK/go.mod" -o "$WORK/$n" "./bench/$n" >>"$WORK/$n-build.log" 2>&1 ||
			{ cat "$WORK/$n-build.log" >&2; die "cannot build bench/$n"; }
	fi
}

# make_busybox_rootfs DIR: Debian's static busybox, a symlink for every
# applet, a minimal /etc and the usual empty directories.
make_busybox_rootfs() {
	local root=$1 bb a
	bb=$(dpkg -L busybox-static 2>/dev/null | grep -E '^(/usr)?/bin/busybox$' | head -1)
	if [ -z "$bb" ] || [ ! -x "$bb" ]; then die "busybox-static is not installed"; fi
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var/tmp,home}
	cp "$bb" "$root/bin/busybox"
	while read -r a; do
		[ -e "$root/$a" ] || [ -L "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done < <("$root/bin/busybox" --list-full)
	if [ ! -L "$root/bin/true" ] || [ ! -L "$root/bin/sleep" ]; then die "busybox has no true/sleep applets"; fi
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	: >"$root/etc/resolv.conf"
	echo bench >"$root/etc/hostname"
	chmod 1777 "$root/tmp" "$root/var/tmp"
}

# Hybrid cgroup hosts (v1 controllers plus a cgroup2 mount at
# /sys/fs/cgroup/unified): crun takes them for v2 and fails, unless it runs in
# a private mount namespace with an empty file over unified/cgroup.controllers.
# detect_cgfix sets CGFIX to that empty file ($WORK/empty) on such hosts, and
# to '' elsewhere.
detect_cgfix() {
	CGFIX=''
	if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ] &&
		[ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
		CGFIX="$WORK/empty"
		: >"$CGFIX"
	fi
}
# write_timed_sh writes $WORK/timed.sh and sets CGNS. timed.sh [-m] [-t
# TIMEFILE] CMD... runs CMD (with crun's workaround when -m is given and
# needed); with -t, timed by timeit and the microseconds written to TIMEFILE.
# Every timed command runs through it, so all are measured alike: from just
# before the fork of the tool's command to its exit, without bash start-up,
# unshare, the mount or timeout(1) in the time.
write_timed_sh() {
	{
		echo '#!/bin/bash'
		declare -f timeit
		cat <<-EOF
			tf='' fix=''
			while :; do
				case \${1:-} in
				-t) tf=\$2; shift 2 ;;
				-m) fix=1; shift ;;
				*) break ;;
				esac
			done
			if [ -n "\$fix" ] && [ -n "$CGFIX" ]; then
				mount --bind "$CGFIX" /sys/fs/cgroup/unified/cgroup.controllers || exit 125
			fi
			[ -n "\$tf" ] || exec "\$@"
			rc=0
			timeit "\$@" || rc=\$?
			echo "\$LAST_US" >"\$tf"
			exit \$rc
		EOF
	} >"$WORK/timed.sh"
	if [ -n "$CGFIX" ]; then
		CGNS=(unshare -m --propagation private bash "$WORK/timed.sh" -m)
	else
		CGNS=(bash "$WORK/timed.sh")
	fi
}
# timed_cmd TOOL CMD... -> LAST_US (empty on failure); the caller redirects
# stdio. Tools listed in CGNS_TOOLS (" crun ") run inside crun's workaround.
timed_cmd() {
	local t=$1 rc=0 pre=(bash "$WORK/timed.sh"); shift
	[[ ${CGNS_TOOLS:-} == *" $t "* ]] && pre=("${CGNS[@]}")
	rm -f "$WORK/t.us"
	LAST_US=
	timeout "$RUN_TIMEOUT" "${pre[@]}" -t "$WORK/t.us" "$@" || rc=$?
	[ "$rc" = 0 ] && [ -s "$WORK/t.us" ] && LAST_US=$(<"$WORK/t.us")
	return $rc
}

# ------------------------------------------------------------------ engines --
# hull with a private store: HULL_ROOT and HULL_RUN.
hl() { "$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN" "$@"; }

# podman_init DIR: a private podman store under DIR, which must be short:
# podman refuses a runroot longer than 50 characters. Sets PODMAN (the
# command with its global options, an array), PODMAN_RUNTIME (runc on cgroup
# v1 and hybrid hosts, where crun fails; podman's default on v2; the
# environment overrides it) and PODMAN_RUN_OPTS (from PODMAN_ULIMITS: podman's
# default rlimits are above this host's hard limits).
podman_init() {
	PODMAN_ROOT="$1/r" PODMAN_RUN="$1/rr"
	if [ -z "${PODMAN_RUNTIME+x}" ]; then
		if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then PODMAN_RUNTIME=''; else PODMAN_RUNTIME=runc; fi
	fi
	PODMAN=(podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUN" --tmpdir "$PODMAN_RUN/libpod-tmp"
		--storage-driver overlay --cgroup-manager cgroupfs --events-backend file)
	[ -n "$PODMAN_RUNTIME" ] && PODMAN+=(--runtime "$PODMAN_RUNTIME")
	read -r -a PODMAN_RUN_OPTS <<<"$PODMAN_ULIMITS"
}
pm() { "${PODMAN[@]}" "$@"; }

# start_dockerd DIR [DOCKERD-OPTION...] starts a private dockerd with its
# config file, data root, exec root and socket under DIR (the host's docker,
# if any, is left alone), and waits until it answers. Sets DOCKERD_PID, DSOCK,
# DOCKER_CONFIG and DOCKER (the docker.io client with -H, an array). Returns 1
# with the reason in DOCKERD_ERR if it does not come up.
DOCKERD_PID=''
start_dockerd() {
	local d=$1 ok=0; shift
	DOCKERD_ERR=''
	command -v dockerd >/dev/null || { DOCKERD_ERR="dockerd not installed"; return 1; }
	[ -n "$DOCKER_CLI" ] || { DOCKERD_ERR="docker CLI not installed"; return 1; }
	DSOCK="unix://$d/docker.sock" DOCKER_CONFIG="$d/cli"
	DOCKER=(env "DOCKER_CONFIG=$DOCKER_CONFIG" "$DOCKER_CLI" -H "$DSOCK")
	mkdir -p "$d/data" "$d/exec" "$DOCKER_CONFIG"
	echo '{}' >"$d/daemon.json"
	dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
		-H "$DSOCK" --pidfile "$d/dockerd.pid" --storage-driver overlay2 --log-level warn \
		"$@" >>"$d/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 1 150); do
		dk version >/dev/null 2>&1 && { ok=1; break; }
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.2
	done
	[ "$ok" = 1 ] || { DOCKERD_ERR="dockerd did not start: $(tail -3 "$d/dockerd.log" | tr '\n' ' ')"; return 1; }
}
dk() { "${DOCKER[@]}" "$@"; }
# stop_dockerd removes every container of the private dockerd, then stops it
# (safe under set -e).
stop_dockerd() {
	[ -n "$DOCKERD_PID" ] || return 0
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		local ids=()
		mapfile -t ids < <(dk ps -aq 2>/dev/null)
		if [ ${#ids[@]} -gt 0 ]; then dk rm -f "${ids[@]}" >/dev/null 2>&1 || true; fi
		kill -TERM "$DOCKERD_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$DOCKERD_PID" 2>/dev/null || true
	fi
	wait "$DOCKERD_PID" 2>/dev/null || true # its exit status is of no interest
	DOCKERD_PID=''
	return 0
}

# ------------------------------------------------------------------ helpers --
help_is() { # help_is USAGE-PREFIX CMD...: does CMD --help document this command?
	local want=$1 out; shift
	out=$("$@" --help 2>&1) || true
	grep -q "^Usage: *$want\b" <<<"$out"
}

# stats N... -> "median min max" (rounded to integers)
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f %.0f %.0f\n", m, v[1], v[NR] }'; }
fmt_ms() { awk -v n="$1" 'BEGIN { printf (n < 10000 ? "%.1f" : "%.0f"), n / 1000 }'; } # µs -> ms
ratio() { [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }' || echo n/a; }
ver() { local v; v=$("$@" 2>/dev/null) || true; v=${v%%$'\n'*}; echo "${v:-unknown}"; }

# Report lines on the machine and the tree.
host_desc() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "$(uname -srm), $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(cgroup_desc)"
}
cgroup_desc() {
	case $(stat -fc %T /sys/fs/cgroup 2>/dev/null) in
	cgroup2fs) echo "cgroup v2" ;;
	*) echo "cgroup v1${CGFIX:+ (hybrid: cgroup2 at /sys/fs/cgroup/unified)}" ;;
	esac
}
# hull_desc [FILE [NAME]]: "`NAME` (binary from DATE), tree at REV [(dirty
# tree)]", DATE being FILE's mtime; FILE and NAME default to HULL.
hull_desc() {
	local f=${1:-$HULL} rev
	local name=${2:-$f}
	rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
	[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ] && rev+=" (dirty tree)"
	echo "\`$name\` (binary from $(date -r "$f" '+%Y-%m-%d %H:%M' 2>/dev/null || echo -)), tree at $rev"
}

# ------------------------------------------- private network namespace --
# For scripts that re-exec themselves under `unshare --net --mount`
# (network.sh, build.sh).

# ns_procs lists the processes in this script's network namespace but
# the script itself.
ns_procs() {
	local p
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[ "$p" = $$ ] || [ "$p" = "$BASHPID" ] && continue
		[ "/proc/$p/ns/net" -ef "/proc/$$/ns/net" ] && echo "$p"
	done
	return 0
}

# end_ns_procs ends what is left in the namespace (started by this run: a
# monitor, a shim that has not exited yet): a moment's grace, then TERM,
# then KILL.
end_ns_procs() {
	local left=() p
	for _ in $(seq 1 15); do
		mapfile -t left < <(ns_procs)
		[ ${#left[@]} -eq 0 ] && return 0
		sleep 0.2
	done
	log "ending processes of this run left in its network namespace (hull's monitor stays 30 s when idle): $(for p in "${left[@]}"; do
		printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
	kill -TERM "${left[@]}" 2>/dev/null
	sleep 1
	mapfile -t left < <(ns_procs)
	[ ${#left[@]} -gt 0 ] && kill -KILL "${left[@]}" 2>/dev/null
	return 0
}

# private_ns_mounts gives the namespace a sysfs of its own over /sys
# (tools that read /sys/class/net must see its devices, not the host's),
# with everything mounted below /sys (cgroups, …) bound into it again, an
# empty /run (what engines keep there whatever their roots — podman's
# /run/netns and netavark's IPAM database, runc's and containerd-shim's
# state, the iptables lock — stays in the run), and lo up.
private_ns_mounts() {
	local t="$WORK/sysfs" m
	mkdir -p "$t"
	mount -t sysfs sysfs "$t" || die "cannot mount a sysfs for the private network namespace"
	while read -r m; do
		[ -d "$t${m#/sys}" ] && mount --rbind "$m" "$t${m#/sys}"
	done < <(awk '$2 ~ "^/sys/" { print $2 }' /proc/mounts | sort |
		awk 'top == "" || index($0, top "/") != 1 { print; top = $0 }')
	mount --move "$t" /sys || die "cannot mount a sysfs for the private network namespace"
	case $WORK in
	/run/* | /var/run/*) log "not mounting a private /run: the work directory $WORK is in it" ;;
	*) mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run || die "cannot mount a private /run" ;;
	esac
	ip link set lo up || die "cannot bring up lo in the private network namespace"
}

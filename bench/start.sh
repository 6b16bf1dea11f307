#!/usr/bin/env bash
# Start benchmark: container start latency of `true` and the host-side memory
# of running containers, for hull's OCI runtime and engine against runc, crun,
# podman and docker, interleaved over several rounds. See bench/README.md.
#
#   sudo ./bench/start.sh                      # ROUNDS=20, 20 containers per tool
#   sudo ROUNDS=40 TOOLS="hull-rt runc crun" ./bench/start.sh
#
# The markdown report goes to stdout and bench/results/start-<date>.md;
# progress goes to stderr.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # also KEEP, RUN_TIMEOUT, PODMAN_ULIMITS, DOCKER_CLI

ROUNDS=${ROUNDS:-20}
WARMUP=${WARMUP:-1}
TOOLS=${TOOLS:-"hull-rt runc crun podman docker hull"}
MEM=${MEM:-1}
MEM_N=${MEM_N:-20}
SETTLE=${SETTLE:-2}
OCI_VERSION=${OCI_VERSION:-1.0.2-dev}
SECCOMP=${SECCOMP:-1}
HULL_RT_ARGS=${HULL_RT_ARGS:-}
IMG=bench/busybox:latest

bench_init
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ "$MEM_N" =~ ^[1-9][0-9]*$ ]] || die "MEM_N must be a positive integer"

# ------------------------------------------------------------------ set-up --
ensure_packages runc:runc crun:crun podman:podman conmon:conmon dockerd:docker.io docker:docker.io \
	containerd-shim-runc-v2:containerd unshare:util-linux timeout:coreutils dpkg:busybox-static
command -v go >/dev/null 2>&1 || die "go not found in PATH"

# A short path: podman refuses a runroot longer than 50 characters.
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hsb.XXXXXX")
chmod 755 "$WORK"
TAG="hsb$$"
declare -A STARTED=() # "tool id" of detached containers not yet removed
remove_detached() { "rm_$1" "$2"; }
cleanup() {
	set +e
	local k
	# shellcheck disable=SC2086 # "tool id": two words
	for k in "${!STARTED[@]}"; do remove_detached ${k} >/dev/null 2>&1; done
	for k in runc crun; do # anything a timed `run` left behind
		[ -d "$WORK/state/$k" ] || continue
		for id in "$WORK/state/$k"/*; do
			[ -d "$id" ] && rt_exec "$k" delete -f "${id##*/}" >/dev/null 2>&1
		done
	done
	if [ -s "$WORK/hull-rt.ids" ] && [ -x "$HULL" ]; then
		while read -r id; do
			hrt delete -f "$id" >/dev/null 2>&1
		done <"$WORK/hull-rt.ids"
	fi
	stop_dockerd
	if command -v podman >/dev/null && [ -d "$WORK/p" ]; then
		pm rm -a -f -t 0 >/dev/null 2>&1
	fi
	if [ -s "$WORK/hull-run.ids" ] && [ -x "$HULL" ]; then
		mapfile -t ids <"$WORK/hull-run.ids"
		hl rm -f "${ids[@]}" >/dev/null 2>&1
	fi
	umount_under "$WORK"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_hull
build_helper startmem

ROOTFS="$WORK/rootfs"
make_busybox_rootfs "$ROOTFS"
tar --numeric-owner -C "$ROOTFS" -cf "$WORK/busybox.tar" .
ROOTFS_FILES=$(find "$ROOTFS" | wc -l)

# crun's workaround on hybrid cgroup hosts, and the timing wrapper (lib.sh).
detect_cgfix
write_timed_sh

# ------------------------------------------------------------------- tools --
podman_init "$WORK/p" # PODMAN, pm, PODMAN_RUN_OPTS (lib.sh)
HULL_ROOT="$WORK/hull/root" HULL_RUN="$WORK/hull/run" # for hl (lib.sh)
read -r -a HRT <<<"$HULL_RT_ARGS" # options between `hull runtime` and its subcommand
hrt() { "$HULL" runtime "${HRT[@]}" "$@"; }
rt_exec() { # rt_exec runc|crun ARGS...: the low-level runtime with its private state root
	case $1 in
	runc) shift; runc --root "$WORK/state/runc" "$@" ;;
	crun) shift; "${CGNS[@]}" crun --root "$WORK/state/crun" "$@" ;;
	esac
}

# Each tool has: setup_T (once; non-zero = skipped/failed, reason in
# SKIP_REASON), cmd_T ID (sets CMD, the timed `true` run), detach_T ID (sets
# CMD, the timed start of a detached `sleep 3600`), pid_T ID (prints the host
# PID of the container's process) and rm_T ID (removes it). Commands of tools
# listed in CGNS_TOOLS run inside cgns.sh.
CGNS_TOOLS=" crun "

help_is() { # help_is USAGE-PREFIX CMD...: does CMD --help document this command?
	local want=$1 out; shift
	out=$("$@" --help 2>&1) || true
	grep -q "^Usage: *$want\b" <<<"$out"
}
state_pid() { sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' | head -1; }

setup_hull-rt() {
	[ -x "$HULL" ] || { SKIP_REASON="no hull binary at $HULL"; return 1; }
	help_is "hull runtime" "$HULL" runtime ||
		{ SKIP_REASON="\`hull runtime\` not implemented in this build"; return 1; }
	help_is "hull runtime run" "$HULL" runtime run ||
		{ SKIP_REASON="\`hull runtime run\` not implemented in this build"; return 1; }
	local out
	out=$("$HULL" runtime --help 2>&1) || true
	if [ -z "$HULL_RT_ARGS" ] && grep -q -- '--root' <<<"$out"; then
		HRT=(--root "$WORK/state/hull") # a private state root, like runc's and crun's
	fi
	HULL_RT_DETACH=run
	out=$("$HULL" runtime run --help 2>&1) || true
	grep -q -- '--detach' <<<"$out" || HULL_RT_DETACH=create
}
cmd_hull-rt() { echo "$1" >>"$WORK/hull-rt.ids"; CMD=("$HULL" runtime "${HRT[@]}" run --bundle "$WORK/b/true" "$1"); }
after_hull-rt() { hrt delete -f "$1" >/dev/null 2>&1 || true; }
detach_hull-rt() {
	echo "$1" >>"$WORK/hull-rt.ids"
	if [ "$HULL_RT_DETACH" = run ]; then
		CMD=("$HULL" runtime "${HRT[@]}" run -d --bundle "$WORK/b/sleep" "$1")
	else
		CMD=("$HULL" runtime "${HRT[@]}" create --bundle "$WORK/b/sleep" "$1" :: "$HULL" runtime "${HRT[@]}" start "$1")
	fi
}
pid_hull-rt() { hrt state "$1" | state_pid; }
rm_hull-rt() { hrt delete -f "$1"; }

setup_runc() { command -v runc >/dev/null || { SKIP_REASON="runc not installed"; return 1; }; mkdir -p "$WORK/state/runc"; }
cmd_runc() { CMD=(runc --root "$WORK/state/runc" run --bundle "$WORK/b/true" "$1"); }
after_runc() { rt_exec runc delete -f "$1" >/dev/null 2>&1 || true; }
detach_runc() { CMD=(runc --root "$WORK/state/runc" run -d --bundle "$WORK/b/sleep" "$1"); }
pid_runc() { rt_exec runc state "$1" | state_pid; }
rm_runc() { rt_exec runc delete -f "$1"; }

setup_crun() { command -v crun >/dev/null || { SKIP_REASON="crun not installed"; return 1; }; mkdir -p "$WORK/state/crun"; }
cmd_crun() { CMD=(crun --root "$WORK/state/crun" run --bundle "$WORK/b/true" "$1"); }
after_crun() { rt_exec crun delete -f "$1" >/dev/null 2>&1 || true; }
detach_crun() { CMD=(crun --root "$WORK/state/crun" run -d --bundle "$WORK/b/sleep" "$1"); }
pid_crun() { rt_exec crun state "$1" | state_pid; }
rm_crun() { rt_exec crun delete -f "$1"; }

setup_podman() {
	command -v podman >/dev/null || { SKIP_REASON="podman not installed"; return 1; }
	mkdir -p "$PODMAN_ROOT" "$PODMAN_RUN"
	pm import "$WORK/busybox.tar" "$IMG" >/dev/null ||
		{ SKIP_REASON="podman import failed"; return 1; }
}
podman_run() { CMD=("${PODMAN[@]}" run "${PODMAN_RUN_OPTS[@]}" "${SEC_OPT[@]}" "$@"); }
cmd_podman() { podman_run --rm --network none --name "$1" "$IMG" true; }
after_podman() { :; }
detach_podman() { podman_run -d --network none --name "$1" "$IMG" sleep 3600; }
pid_podman() { pm inspect --format '{{.State.Pid}}' "$1"; }
rm_podman() { pm rm -f -t 0 "$1"; }

setup_docker() {
	start_dockerd "$WORK/docker" --bridge=none --iptables=false \
		--ip-forward=false --ip-masq=false --userland-proxy=false ||
		{ SKIP_REASON=$DOCKERD_ERR; return 1; }
	dk import "$WORK/busybox.tar" "$IMG" >/dev/null || { SKIP_REASON="docker import failed"; return 1; }
}
cmd_docker() { CMD=("${DOCKER[@]}" run "${SEC_OPT[@]}" --rm --network none --name "$1" "$IMG" true); }
after_docker() { :; }
detach_docker() { CMD=("${DOCKER[@]}" run "${SEC_OPT[@]}" -d --network none --name "$1" "$IMG" sleep 3600); }
pid_docker() { dk inspect --format '{{.State.Pid}}' "$1"; }
rm_docker() { dk rm -f "$1"; }
daemon_pids_docker() { # dockerd and the containerd it started
	[ -n "$DOCKERD_PID" ] || return 0
	echo "$DOCKERD_PID"
	awk -v p="$DOCKERD_PID" '$2 == p && $4 ~ /containerd$/ { print $1 }' "$WORK/procs.now" 2>/dev/null || true
}

setup_hull() {
	[ -x "$HULL" ] || { SKIP_REASON="no hull binary at $HULL"; return 1; }
	help_is "hull run" "$HULL" run || { SKIP_REASON="n/a (not implemented)"; return 1; }
	mkdir -p "$HULL_ROOT" "$HULL_RUN"
	hl import "$WORK/busybox.tar" "$IMG" >/dev/null 2>"$WORK/hull-import.log" ||
		{ SKIP_REASON="hull import failed: $(tail -1 "$WORK/hull-import.log")"; return 1; }
}
cmd_hull() { CMD=("$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN" run "${SEC_OPT[@]}" --rm --network none --name "$1" "$IMG" true); }
after_hull() { :; }
detach_hull() { echo "$1" >>"$WORK/hull-run.ids"; CMD=("$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN" run "${SEC_OPT[@]}" -d --network none --name "$1" "$IMG" sleep 3600); }
pid_hull() { hl inspect --format '{{.State.Pid}}' "$1"; }
# The memory phase counts hull's monitor in full: stop the one left from
# the timing rounds (it serves every container of the root), so the next
# `run -d` starts a fresh one that the measurement sees as new.
premem_hull() {
	pkill -TERM -f -- "--root $HULL_ROOT --runroot $HULL_RUN monitor" 2>/dev/null || true
	local i
	for ((i = 0; i < 100; i++)); do
		pgrep -f -- "--root $HULL_ROOT --runroot $HULL_RUN monitor" >/dev/null || return 0
		sleep 0.05
	done
}
rm_hull() { hl rm -f "$1"; }

is_hull() { case $1 in hull | hull-rt) return 0 ;; esac; return 1; }

label() {
	case $1 in
	hull-rt) echo "hull runtime run" ;;
	runc) echo "runc run" ;;
	crun) echo "crun run" ;;
	podman) echo "podman run --rm" ;;
	docker) echo "docker run --rm" ;;
	hull) echo "hull run --rm" ;;
	*) echo "$1" ;;
	esac
}
mem_label() {
	case $1 in
	hull-rt) echo "hull runtime run -d" ;;
	runc) echo "runc run -d" ;;
	crun) echo "crun run -d" ;;
	podman) echo "podman run -d" ;;
	docker) echo "docker run -d" ;;
	hull) echo "hull run -d" ;;
	*) echo "$1" ;;
	esac
}

# Bundles: the spec hull's runtime writes (`hull runtime spec` when the CLI
# has it, else the same template from the spec package), with the process
# and root path set; one for `true`, one for `sleep 3600`, sharing the rootfs.
mkdir -p "$WORK/b/true" "$WORK/b/sleep" "$WORK/b/tmpl"
FROM=()
if [ -x "$HULL" ] && help_is "hull runtime spec" "$HULL" runtime spec &&
	(cd "$WORK/b/tmpl" && "$HULL" runtime spec >/dev/null 2>&1) && [ -s "$WORK/b/tmpl/config.json" ]; then
	FROM=(-from "$WORK/b/tmpl/config.json")
fi
for b in true:/bin/true "sleep:/bin/sleep 3600"; do
	# shellcheck disable=SC2086
	SPEC_SOURCE=$("$WORK/startmem" config "${FROM[@]}" -rootfs "$ROOTFS" -hostname bench \
		-oci-version "$OCI_VERSION" -seccomp="$([ "$SECCOMP" = 0 ] && echo false || echo true)" -out "$WORK/b/${b%%:*}/config.json" -- ${b#*:}) ||
		die "cannot write the bundle config"
done
[ ${#FROM[@]} -gt 0 ] && SPEC_SOURCE="\`hull runtime spec\`"
SECCOMP_DESC="none"
grep -q '"seccomp"' "$WORK/b/true/config.json" && SECCOMP_DESC="Docker's default (from the spec package)"
SEC_OPT=()
[ "$SECCOMP" = 0 ] && SEC_OPT=(--security-opt seccomp=unconfined)

read -r -a ALL <<<"$TOOLS"
declare -A STATUS NOTE TIMES NFAIL
ACTIVE=()
for t in "${ALL[@]}"; do
	declare -F "cmd_$t" >/dev/null || die "unknown tool '$t' (known: hull-rt runc crun podman docker hull)"
	SKIP_REASON=
	if "setup_$t" >"$WORK/setup-$t.log" 2>&1; then
		STATUS[$t]=ok ACTIVE+=("$t")
	elif is_hull "$t"; then
		STATUS[$t]=failed NOTE[$t]=$SKIP_REASON
		[ "$SKIP_REASON" = "n/a (not implemented)" ] && STATUS[$t]=n/a NOTE[$t]="not implemented"
	else
		STATUS[$t]=skipped NOTE[$t]="$SKIP_REASON $(tail -2 "$WORK/setup-$t.log" | tr '\n|' ' /' | cut -c1-200)"
	fi
	TIMES[$t]='' NFAIL[$t]=0
	[ "${STATUS[$t]}" = ok ] || log "$t: ${STATUS[$t]} (${NOTE[$t]})"
done

# run_one TOOL ROUNDLABEL -> LAST_US (empty on failure). The timed command
# is the whole `run` of `true`, including the removal of the container.
run_one() {
	local t=$1 r=$2 id="$TAG-$1-$2" lg="$WORK/logs/$1.$2.log" rc=0
	LAST_US=
	mkdir -p "$WORK/logs"
	"cmd_$t" "$id"
	echo "+ ${CMD[*]}" >"$lg"
	sync
	timed_cmd "$t" "${CMD[@]}" </dev/null >>"$lg" 2>&1 || rc=$?
	"after_$t" "$id" >>"$lg" 2>&1
	if [ "$rc" != 0 ]; then
		LAST_US=
		log "$t round $r: FAILED (exit $rc): $(tail -2 "$lg" | tr '\n' ' ' | cut -c1-300)"
		return 1
	fi
	return 0
}

if [ "$WARMUP" -gt 0 ] && [ ${#ACTIVE[@]} -gt 0 ]; then
	log "warm-up (untimed, $WARMUP run(s) each): ${ACTIVE[*]}"
	for t in "${ACTIVE[@]}"; do
		for ((w = 1; w <= WARMUP; w++)); do
			if run_one "$t" "w$w"; then
				log "  $t warm-up $(fmt_ms "$LAST_US") ms"
			else
				reason="failed in warm-up: $(grep -v '^+ ' "$WORK/logs/$t.w$w.log" | tail -1 | cut -c1-200 | tr '|' '/')"
				if is_hull "$t"; then STATUS[$t]=failed; else STATUS[$t]=skipped; fi
				NOTE[$t]=$reason
				break
			fi
		done
	done
	NEW=()
	for t in "${ACTIVE[@]}"; do [ "${STATUS[$t]}" = ok ] && NEW+=("$t"); done
	ACTIVE=("${NEW[@]}")
fi

RAW="| round | order | $(for t in "${ALL[@]}"; do printf '%s | ' "$t"; done)
|---|---|$(for t in "${ALL[@]}"; do printf -- '---:|'; done)
"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
n=${#ACTIVE[@]}
for ((r = 0; r < ROUNDS; r++)); do
	[ "$n" -gt 0 ] || break
	order=()
	for ((i = 0; i < n; i++)); do order+=("${ACTIVE[(i + r) % n]}"); done
	declare -A cell=()
	line=''
	for t in "${order[@]}"; do
		if run_one "$t" "$((r + 1))"; then
			TIMES[$t]+="$LAST_US "
			cell[$t]=$(fmt_ms "$LAST_US")
		else
			NFAIL[$t]=$((NFAIL[$t] + 1))
			cell[$t]=failed
		fi
		line+=" $t=${cell[$t]}"
	done
	log "round $((r + 1))/$ROUNDS:$line"
	RAW+="| $((r + 1)) | ${order[*]} | $(for t in "${ALL[@]}"; do printf '%s | ' "${cell[$t]:--}"; done)
"
	unset cell
done
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A MED MIN MAX
for t in "${ALL[@]}"; do
	[ "${STATUS[$t]}" = ok ] || continue
	if [ -z "${TIMES[$t]// /}" ]; then
		STATUS[$t]=failed
		NOTE[$t]="failed in all $ROUNDS rounds: $(grep -v '^+ ' "$WORK/logs/$t.$ROUNDS.log" | tail -1 | cut -c1-200 | tr '|' '/')"
		continue
	fi
	# shellcheck disable=SC2086
	read -r MED[$t] MIN[$t] MAX[$t] <<<"$(stats ${TIMES[$t]})"
	[ "${NFAIL[$t]}" -gt 0 ] && NOTE[$t]="${NFAIL[$t]}/$ROUNDS rounds failed"
done

# ------------------------------------------------------------------ memory --
# procs FILE: one line per process, "pid ppid starttime comm" (from
# /proc/*/stat; comm may hold spaces, so it is taken between the parentheses).
procs() {
	# (cat fails when a process exits during the read: not an error here)
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{
		l = $0; i = index(l, " ("); j = 0
		for (k = length(l); k > 0; k--) if (substr(l, k, 2) == ") ") { j = k; break }
		if (!i || !j) next
		comm = substr(l, i + 2, j - i - 2); gsub(/ /, "_", comm)
		split(substr(l, j + 2), f, " ")
		print substr(l, 1, i - 1), f[2], f[20], comm
	}' >"$1"
}
# rollup PID... -> "pss_kib rss_kib" summed over the processes
rollup() {
	local p pss=0 rss=0 a b
	for p in "$@"; do
		read -r a b < <(awk '/^Pss:/ { p = $2 } /^Rss:/ { r = $2 } END { print p + 0, r + 0 }' \
			"/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
		pss=$((pss + a)) rss=$((rss + b))
	done
	echo "$pss $rss"
}
HOST_PIDNS=$(readlink /proc/self/ns/pid)

declare -A M_START M_STARTMED M_PSS M_RSS M_WHAT M_DAEMON M_NOTE M_STATUS
mem_one() {
	local t=$1 i id ids=() starts=() cpids=() rc lg="$WORK/logs/$1.mem.log" p
	M_STATUS[$t]=ok
	# A tool may need to clear shared helpers first so that they count as
	# "there because of the containers" (hull's monitor, shared by all
	# containers of a root and otherwise still alive from the timing rounds).
	if declare -F "premem_$t" >/dev/null; then "premem_$t"; fi
	procs "$WORK/procs.before"
	local dpids=() dbefore=''
	if declare -F "daemon_pids_$t" >/dev/null; then
		cp "$WORK/procs.before" "$WORK/procs.now"
		mapfile -t dpids < <("daemon_pids_$t")
		dbefore=$(rollup "${dpids[@]}")
	fi
	: >"$lg"
	local t0=$EPOCHREALTIME
	for ((i = 1; i <= MEM_N; i++)); do
		id="$TAG-$t-m$i"
		"detach_$t" "$id"
		echo "+ ${CMD[*]}" >>"$lg"
		rc=0
		timed_cmd "$t" "${CMD[@]}" </dev/null >>"$lg" 2>&1 || rc=$?
		STARTED["$t $id"]=1
		if [ "$rc" != 0 ]; then
			M_STATUS[$t]=failed
			M_NOTE[$t]="start $i failed (exit $rc): $(grep -v '^+ ' "$lg" | tail -1 | cut -c1-200 | tr '|' '/')"
			break
		fi
		ids+=("$id") starts+=("$LAST_US")
	done
	local t1=$EPOCHREALTIME
	if [ "${M_STATUS[$t]}" = ok ]; then
		M_START[$t]=$((10#${t1//[.,]/} - 10#${t0//[.,]/}))
		read -r "M_STARTMED[$t]" _ <<<"$(stats "${starts[@]}")"
		sleep "$SETTLE"
		for id in "${ids[@]}"; do
			p=$("pid_$t" "$id" 2>>"$lg" | tr -dc 0-9) || true
			if [ -z "$p" ] || [ "$p" = 0 ] || [ ! -d "/proc/$p" ]; then
				M_STATUS[$t]=failed M_NOTE[$t]="container $id is not running (pid '${p}')"
				break
			fi
			cpids+=("$p")
		done
	fi
	if [ "${M_STATUS[$t]}" = ok ]; then
		procs "$WORK/procs.now"
		# Processes there because of the containers: the new (not in the
		# snapshot taken before) host-PID-namespace ancestors of each
		# container process, plus new host processes whose command line names
		# one of the containers or the benchmark's directory (a monitor that
		# is not a parent). The containers' own processes (in their PID
		# namespaces) are left out.
		local over
		over=$(
			{
				printf 'C %s\n' "${cpids[@]}"
				printf 'I %s\n' "${ids[@]}"
			} | awk -v before="$WORK/procs.before" -v now="$WORK/procs.now" '
				BEGIN {
					while ((getline l < before) > 0) { split(l, f, " "); old[f[1] " " f[3]] = 1 }
					while ((getline l < now) > 0) { split(l, f, " "); pp[f[1]] = f[2]; st[f[1]] = f[3] }
				}
				$1 == "C" { c[$2] = 1 }
				END {
					for (p in c) {
						q = pp[p]
						while (q > 1 && !((q " " st[q]) in old) && !(q in c)) { out[q] = 1; q = pp[q] }
					}
					for (p in st) if (!((p " " st[p]) in old) && !(p in c)) print "N " p
					for (p in out) print "A " p
				}')
		local set=() seen=" " kind pid cmdl
		while read -r kind pid; do
			[ -n "$pid" ] || continue
			[[ $seen == *" $pid "* ]] && continue
			if [ "$kind" = N ]; then # not an ancestor: keep only if it names our containers
				[ "$(readlink "/proc/$pid/ns/pid" 2>/dev/null)" = "$HOST_PIDNS" ] || continue
				cmdl=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
				local hit=0 id2
				[[ $cmdl == *"$WORK/"* ]] && hit=1
				for id2 in "${ids[@]}"; do [[ $cmdl == *"$id2"* ]] && { hit=1; break; }; done
				[ "$hit" = 1 ] || continue
			fi
			seen+="$pid " set+=("$pid")
		done <<<"$over"
		local pss rss
		read -r pss rss <<<"$(rollup "${set[@]}")"
		M_PSS[$t]=$pss M_RSS[$t]=$rss
		M_WHAT[$t]=$(for p in "${set[@]}"; do awk -v p="$p" '$1 == p { print $4 }' "$WORK/procs.now"; done |
			sort | uniq -c | awk '{ printf "%s%d × %s", (NR > 1 ? ", " : ""), $1, $2 }')
		[ -n "${M_WHAT[$t]}" ] || M_WHAT[$t]="none (only the containers' own processes)"
		if [ ${#dpids[@]} -gt 0 ]; then
			local dafter
			dafter=$(rollup "${dpids[@]}")
			M_DAEMON[$t]=$((${dafter%% *} - ${dbefore%% *}))
		fi
		log "  $t: ${#set[@]} extra processes (${M_WHAT[$t]}), PSS $pss KiB, RSS $rss KiB for $MEM_N containers"
	fi
	# Clean up (untimed), then check nothing is left running.
	for id in "${ids[@]}" "$TAG-$t-m$((${#ids[@]} + 1))"; do
		[ -n "${STARTED["$t $id"]:-}" ] || continue
		"rm_$t" "$id" >>"$lg" 2>&1 || log "  $t: removing $id failed"
		unset "STARTED[$t $id]"
	done
	for _ in $(seq 1 50); do
		local alive=0
		for p in "${cpids[@]}"; do [ -d "/proc/$p" ] && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.2
	done
	[ "${alive:-0}" = 0 ] || log "  $t: some container processes are still alive after removal"
}

MEM_TOOLS=()
if [ "$MEM" = 1 ]; then
	for t in "${ALL[@]}"; do
		if [ "${STATUS[$t]}" = skipped ] || [ "${STATUS[$t]}" = n/a ]; then continue; fi
		if [ "${STATUS[$t]}" != ok ] && ! is_hull "$t"; then continue; fi
		MEM_TOOLS+=("$t")
	done
	for t in "${MEM_TOOLS[@]}"; do
		log "memory: $t, $MEM_N detached containers"
		if [ "${STATUS[$t]}" != ok ]; then
			M_STATUS[$t]=failed M_NOTE[$t]=${NOTE[$t]}
			continue
		fi
		mem_one "$t"
	done
fi

# ------------------------------------------------------------------ report --
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
per() { awk -v a="$1" -v n="$MEM_N" 'BEGIN { printf "%.0f", a / n }'; }
STAMP=$(date +%Y-%m-%d-%H%M%S)
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/start-$STAMP.md"

row_status() { # the text of a row without numbers
	local t=$1
	case ${STATUS[$t]} in
	n/a) echo "n/a (not implemented)" ;;
	failed) echo "failed: ${NOTE[$t]}" ;;
	*) echo "${STATUS[$t]}: ${NOTE[$t]}" ;;
	esac
}

{
	echo "# Start benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo
	echo "Container: \`/bin/true\` from a busybox rootfs (Debian busybox-static $(dpkg-query -W -f '${Version}' busybox-static 2>/dev/null)," \
		"$ROOTFS_FILES entries). Bundle config: $SPEC_SOURCE with process.args set, no terminal," \
		"ociVersion $OCI_VERSION; Docker's default capabilities, mounts, masked paths, namespaces" \
		"(mount, network, uts, pid, ipc), seccomp profile: $SECCOMP_DESC. Engines run the same rootfs imported as \`$IMG\`," \
		"with \`--network none\`."
	echo
	echo "## Start latency of \`true\`"
	echo
	echo "$ROUNDS interleaved rounds (+$WARMUP untimed warm-up run each), order rotated every round;" \
		"wall-clock time of the whole command (create, start, wait for exit, delete)."
	echo
	echo "| command | median ms | min ms | max ms | vs crun | vs hull runtime | notes |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	for t in "${ALL[@]}"; do
		if [ -n "${MED[$t]:-}" ]; then
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$t")" \
				"$(fmt_ms "${MED[$t]}")" "$(fmt_ms "${MIN[$t]}")" "$(fmt_ms "${MAX[$t]}")" \
				"$(ratio "${MED[$t]}" "${MED[crun]:-}")" "$(ratio "${MED[$t]}" "${MED[hull-rt]:-}")" \
				"${NOTE[$t]:-}"
		else
			printf '| %s | %s | | | | | |\n' "$(label "$t")" "$(row_status "$t")"
		fi
	done
	echo
	echo "Ratios are medians divided by crun's median or by hull runtime's median (above 1× means slower)."
	echo
	if [ "$MEM" = 1 ]; then
		echo "## Memory of $MEM_N running containers (\`sleep 3600\`)"
		echo
		echo "Host-side memory of the processes that exist because of the containers, not counting the" \
			"containers' own processes: new host processes that are ancestors of a container process" \
			"(conmon, containerd-shim, …) or that name a container or the benchmark directory on their" \
			"command line. PSS and RSS are sums of /proc/PID/smaps_rollup over those processes, divided by $MEM_N," \
			"measured ${SETTLE} s after the last start. \"start\" is the time to start all $MEM_N detached containers" \
			"one after the other."
		echo
		echo "| command | start $MEM_N: total s | median ms per start | extra processes | PSS KiB / container | RSS KiB / container | daemon PSS growth KiB / container | notes |"
		echo "|---|---:|---:|---|---:|---:|---:|---|"
		for t in "${ALL[@]}"; do
			if [ "${M_STATUS[$t]:-}" = ok ]; then
				printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(mem_label "$t")" \
					"$(awk -v n="${M_START[$t]}" 'BEGIN { printf "%.2f", n / 1e6 }')" "$(fmt_ms "${M_STARTMED[$t]}")" \
					"${M_WHAT[$t]}" "$(per "${M_PSS[$t]}")" "$(per "${M_RSS[$t]}")" \
					"$([ -n "${M_DAEMON[$t]:-}" ] && per "${M_DAEMON[$t]}" || echo —)" "${M_NOTE[$t]:-}"
			elif [ -n "${M_STATUS[$t]:-}" ]; then
				printf '| %s | failed: %s | | | | | | |\n' "$(mem_label "$t")" "${M_NOTE[$t]}"
			else
				printf '| %s | %s | | | | | | |\n' "$(mem_label "$t")" "$(row_status "$t")"
			fi
		done
		echo
		echo "PSS shares the pages that several processes map (the shims' and conmons' code) among them;" \
			"RSS counts them in full for every process. The daemon column is the PSS of dockerd and its" \
			"containerd after the starts minus before, per container (Go heaps: noisy)."
		echo
	fi
	echo "## Per-round milliseconds"
	echo
	printf '%s' "$RAW"
	echo
	echo "## Environment"
	echo
	echo "- host: $(host_desc)"
	echo "- load average (1/5/15 min) before the timed rounds: $LOAD_START; after them: $LOAD_MID;" \
		"after the memory runs: $LOAD_END (above $(nproc) means other work competed for the CPUs)"
	echo "- hull: $(hull_desc "$HULL")"
	echo "- runc: $(ver runc --version); crun: $(ver crun --version)${CGFIX:+ (run inside \`unshare -m --propagation private\` with an empty file over /sys/fs/cgroup/unified/cgroup.controllers; only crun is timed)}"
	echo "- podman: $(ver podman --version), runtime ${PODMAN_RUNTIME:-default}, conmon $(ver conmon --version | sed 's/^conmon version //'), overlay, cgroupfs${PODMAN_ULIMITS:+, \`$PODMAN_ULIMITS\`}"
	echo "- dockerd: $(ver dockerd --version) (private daemon, overlay2, --bridge=none; client $(ver "${DOCKER_CLI:-false}" --version)), $(ver containerd --version | awk '{ print "containerd", $3 }')"
	echo "- command: \`ROUNDS=$ROUNDS MEM_N=$MEM_N TOOLS=\"$TOOLS\" ./bench/start.sh\`"
} | tee "$OUT"
log "report written to $OUT"

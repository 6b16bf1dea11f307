#!/usr/bin/env bash
# Network benchmark: (1) start latency of `run --rm IMG true` on the default
# bridge network against `--network none`, for hull, podman and docker,
# interleaved over several rounds; (2) TCP throughput with iperf3 from the host
# to a published port, from the host to the container's address (the direct
# veth path) and between two containers on a user-defined network, for hull
# and for docker with and without its userland proxy. See bench/README.md.
#
#   sudo ./bench/network.sh                          # ROUNDS=20, 5 × 3 s per path
#   sudo TESTS=tcp TOOLS="hull docker-noproxy" ./bench/network.sh
#
# Everything runs in a private network and mount namespace made for the run,
# with its own /run, so the bridges, veths, firewall rules, sysctls and
# run-time state the engines set up never touch the host's, and all of them
# vanish with the run.
#
# The markdown report goes to stdout and bench/results/network-<date>.md;
# progress goes to stderr.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh" # also KEEP, RUN_TIMEOUT, PODMAN_ULIMITS, DOCKER_CLI

ROUNDS=${ROUNDS:-20}
WARMUP=${WARMUP:-1}
TOOLS=${TOOLS:-"hull podman docker docker-noproxy"}
TESTS=${TESTS:-"start tcp"}
IPERF_TIME=${IPERF_TIME:-3}
IPERF_RUNS=${IPERF_RUNS:-5}
GOAL_START_MS=${GOAL_START_MS:-5}
GOAL_PUB_PCT=${GOAL_PUB_PCT:-90}
IMG=bench/iperf3:latest
KNOWN_TOOLS=" hull podman docker docker-noproxy "

bench_init
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ "$IPERF_TIME" =~ ^[1-9][0-9]*$ ]] || die "IPERF_TIME must be a positive integer (seconds)"
[[ "$IPERF_RUNS" =~ ^[1-9][0-9]*$ ]] || die "IPERF_RUNS must be a positive integer"
read -r -a ALL <<<"$TOOLS"
for t in "${ALL[@]}"; do
	[[ $KNOWN_TOOLS == *" $t "* ]] || die "unknown tool '$t' (known:$KNOWN_TOOLS)"
done
for x in $TESTS; do
	case $x in start | tcp) ;; *) die "unknown test '$x' in TESTS (known: start tcp)" ;; esac
done
want_test() { [[ " $TESTS " == *" $1 "* ]]; }
want_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

# ------------------------------------------------------ outside: the host --
# Packages and Go builds need the host's network; then the script runs itself
# again in new network and mount namespaces (HSB_NET_WORK names its work dir).
if [ -z "${HSB_NET_WORK:-}" ]; then
	ensure_packages iperf3:iperf3 dpkg:busybox-static podman:podman conmon:conmon runc:runc \
		dockerd:docker.io docker:docker.io containerd-shim-runc-v2:containerd iptables:iptables \
		ip:iproute2 ss:iproute2 unshare:util-linux timeout:coreutils
	command -v go >/dev/null 2>&1 || die "go not found in PATH"
	command -v iperf3 >/dev/null 2>&1 || die "iperf3 is not installed (apt-get install iperf3)"
	# A short path: podman refuses a runroot longer than 50 characters.
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hsn.XXXXXX")
	chmod 755 "$WORK"
	trap 'rm -rf "$WORK"' EXIT
	ensure_hull
	# The whole run uses one copy of the binary, even if bin/hull is rebuilt meanwhile.
	if [ -x "$HULL" ]; then mkdir -p "$WORK/bin" && cp -p "$HULL" "$WORK/bin/hull"; fi
	build_helper mkimage
	trap - EXIT
	log "entering a private network and mount namespace"
	export HSB_NET_WORK=$WORK
	exec unshare --net --mount --propagation private -- bash "$SELF" "$@"
fi

# ------------------------------------------- inside: private namespaces --
WORK=$HSB_NET_WORK
HULL_SRC=$HULL
[ -x "$WORK/bin/hull" ] && HULL="$WORK/bin/hull"
TAG="hsn$$"
HULL_ROOT="$WORK/hull/root" HULL_RUN="$WORK/hull/run" # for hl (lib.sh)
# hull's network store is the host's by default; this run's bridges and
# rules live in the private namespace, so its store does too.
export HULL_NETWORK_DIR="$WORK/hull/network"
podman_init "$WORK/p"                                 # PODMAN, pm, PODMAN_RUN_OPTS (lib.sh)
DOCKER_DIRS=()                                        # data dirs of the dockerds started

# Names of what the run created, for the clean-up: "tool name".
declare -A CREATED=() NETWORKS=()
eng() { # eng TOOL ARGS...: the tool's CLI
	case $1 in
	hull) shift; hl "$@" ;;
	podman) shift; pm "$@" ;;
	docker | docker-noproxy) shift; dk "$@" ;;
	esac
}
eng_cmd() { # eng_cmd TOOL: ENG=(the tool's command line, for timed_cmd), RUNOPT=(its run options)
	RUNOPT=()
	case $1 in
	hull) ENG=("$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN") ;;
	podman) ENG=("${PODMAN[@]}") RUNOPT=("${PODMAN_RUN_OPTS[@]}") ;;
	docker | docker-noproxy) ENG=("${DOCKER[@]}") ;;
	esac
}
remove_created() { # remove_created TOOL: its containers and networks (errors ignored)
	local t=$1 k names=() nets=()
	for k in "${!CREATED[@]}"; do [ "${k%% *}" = "$t" ] && names+=("${k#* }") && unset "CREATED[$k]"; done
	for k in "${!NETWORKS[@]}"; do [ "${k%% *}" = "$t" ] && nets+=("${k#* }") && unset "NETWORKS[$k]"; done
	if [ ${#names[@]} -gt 0 ]; then eng "$t" rm -f "${names[@]}" >/dev/null 2>&1 || true; fi
	if [ ${#nets[@]} -gt 0 ]; then eng "$t" network rm "${nets[@]}" >/dev/null 2>&1 || true; fi
	return 0
}
cleanup() {
	set +e
	local t
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		for t in docker docker-noproxy; do remove_created "$t"; done
	fi
	stop_dockerd
	want_tool podman && [ -d "$PODMAN_ROOT" ] && pm rm -a -f -t 0 >/dev/null 2>&1
	want_tool hull && [ -x "$HULL" ] && [ -d "$HULL_ROOT" ] && remove_created hull
	end_ns_procs
	umount_under "$WORK"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_ns_mounts # lib.sh

detect_cgfix  # CGFIX, for the report's cgroup line (lib.sh)
write_timed_sh # $WORK/timed.sh, used by timed_cmd (lib.sh)
mkdir -p "$WORK/logs"

# ---------------------------------------------------------------- image --
# busybox-static with its applet links (as in start.sh), Debian's iperf3 and
# the shared libraries ldd lists for it, packed by bench/mkimage as a
# one-layer docker-archive whose default command is `iperf3 -s`.
ROOTFS="$WORK/rootfs"
make_busybox_rootfs "$ROOTFS"
IPERF3=$(command -v iperf3)
cp "$IPERF3" "$ROOTFS/usr/bin/iperf3"
while read -r lib; do
	mkdir -p "$ROOTFS$(dirname "$lib")"
	cp -L "$lib" "$ROOTFS$lib"
done < <(ldd "$IPERF3" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
chroot "$ROOTFS" /usr/bin/iperf3 --version >/dev/null 2>&1 || die "iperf3 does not run in the image's rootfs"
"$WORK/mkimage" -rootfs "$ROOTFS" -out "$WORK/layers" -split '*' -tar "$WORK/iperf3.tar" \
	-tag "$IMG" -cmd 'iperf3 -s' >"$WORK/mkimage.out" 2>"$WORK/mkimage.log" ||
	{ cat "$WORK/mkimage.log" >&2; die "bench/mkimage failed"; }
IMG_DESC="$(find "$ROOTFS" | wc -l) entries, $(du -sm "$ROOTFS" | cut -f1) MiB unpacked, $(du -m "$WORK/iperf3.tar" | cut -f1) MiB archive"
log "image $IMG: $IMG_DESC"

# first_err LOGFILE: the first error-looking line of a command's output (or
# its first line), one line, without table separators.
first_err() {
	local l
	l=$(grep -v '^+ ' "$1" 2>/dev/null | grep -m1 -iE 'error|fail|denied|unable|cannot|not |invalid|unknown|no such' ||
		grep -v '^+ ' "$1" 2>/dev/null | grep -m1 .) || true
	l=${l//|/\/}
	echo "${l:0:200}"
}

# ---------------------------------------------------------------- tools --
declare -A T_STATUS=() T_NOTE=() # per tool: ok/failed and why (set-up)
setup_tool() { # setup_tool TOOL: start what it needs and load the image; non-zero = failed (T_NOTE)
	local t=$1 lg="$WORK/logs/setup-$1.log"
	case $t in
	hull)
		[ -x "$HULL" ] || { T_NOTE[$t]="no hull binary at $HULL_SRC"; return 1; }
		mkdir -p "$HULL_ROOT" "$HULL_RUN"
		;;
	podman)
		command -v podman >/dev/null || { T_NOTE[$t]="podman not installed"; return 1; }
		mkdir -p "$PODMAN_ROOT" "$PODMAN_RUN"
		;;
	docker | docker-noproxy)
		stop_dockerd
		ip link del docker0 2>/dev/null || true # a fresh default bridge for each dockerd
		local d="$WORK/$t" opt=()
		[ "$t" = docker-noproxy ] && opt=(--userland-proxy=false)
		DOCKER_DIRS+=("$d")
		start_dockerd "$d" "${opt[@]}" || { T_NOTE[$t]=$DOCKERD_ERR; return 1; }
		;;
	esac
	echo "+ load -i $WORK/iperf3.tar" >"$lg"
	eng "$t" load -i "$WORK/iperf3.tar" >>"$lg" 2>&1 || { T_NOTE[$t]="load failed: $(first_err "$lg")"; return 1; }
}
ensure_tool() { # ensure_tool TOOL: setup_tool once; status in T_STATUS
	local t=$1
	if [ -z "${T_STATUS[$t]:-}" ]; then
		log "setting up $t"
		if setup_tool "$t"; then T_STATUS[$t]=ok; else T_STATUS[$t]=failed; log "$t: failed: ${T_NOTE[$t]}"; fi
	fi
	[ "${T_STATUS[$t]}" = ok ]
}
label() {
	case $1 in
	docker) echo "docker (userland proxy on, the default)" ;;
	docker-noproxy) echo "docker --userland-proxy=false" ;;
	*) echo "$1" ;;
	esac
}

# ------------------------------------------ test 1: start with networking --
START_TOOLS=() CELLS=()
declare -A C_STATUS=() C_NOTE=() C_TIMES=() C_NFAIL=() C_MED=() C_MIN=() C_MAX=()
if want_test start; then
	for t in hull podman docker; do want_tool "$t" && START_TOOLS+=("$t"); done
fi
# run_cell TOOL/MODE LABEL -> LAST_US (empty on failure): the timed
# `run --rm [--network none] --name ID IMG true`, removal included.
run_cell() {
	local cl=$1 r=$2 t=${1%/*} m=${1#*/} id="$TAG-${1%/*}-${1#*/}-$2" lg="$WORK/logs/${1/\//-}.$2.log" rc=0 nopt=()
	[ "$m" = none ] && nopt=(--network none)
	eng_cmd "$t"
	CREATED["$t $id"]=1
	CMD=("${ENG[@]}" run "${RUNOPT[@]}" --rm "${nopt[@]}" --name "$id" "$IMG" true)
	echo "+ ${CMD[*]}" >"$lg"
	sync
	timed_cmd "$t" "${CMD[@]}" </dev/null >>"$lg" 2>&1 || rc=$?
	unset "CREATED[$t $id]"
	if [ "$rc" != 0 ]; then
		LAST_US=
		CREATED["$t $id"]=1 # may be left behind
		log "$cl round $r: FAILED (exit $rc): $(first_err "$lg")"
		return 1
	fi
}
# check_bridge TOOL: does the default network give the container an
# interface with a global IPv4 address (and not just lo)?
check_bridge() {
	local t=$1 id="$TAG-$1-check" lg="$WORK/logs/$1-bridge-check.log" out
	eng_cmd "$t"
	CREATED["$t $id"]=1
	echo "+ run --rm --name $id $IMG ip -4 -o addr show scope global" >"$lg"
	out=$(timeout "$RUN_TIMEOUT" "${ENG[@]}" run "${RUNOPT[@]}" --rm --name "$id" "$IMG" ip -4 -o addr show scope global 2>>"$lg" </dev/null) ||
		{ echo "$out" >>"$lg"; C_NOTE[$t/bridge]="$(first_err "$lg")"; return 1; }
	unset "CREATED[$t $id]"
	echo "$out" >>"$lg"
	BRIDGE_ADDR[$t]=$(awk 'NF { print $2 " " $4; exit }' <<<"$out")
	[ -n "${BRIDGE_ADDR[$t]}" ] ||
		{ C_NOTE[$t/bridge]="the default network gave the container no interface besides lo (no bridge networking yet)"; return 1; }
}
declare -A BRIDGE_ADDR=()
RAW1=''
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [ ${#START_TOOLS[@]} -gt 0 ]; then
	for t in "${START_TOOLS[@]}"; do
		for m in none bridge; do
			cl="$t/$m"
			CELLS+=("$cl")
			C_TIMES[$cl]='' C_NFAIL[$cl]=0 C_STATUS[$cl]=ok
			if ! ensure_tool "$t"; then
				C_STATUS[$cl]=failed C_NOTE[$cl]=${T_NOTE[$t]}
			elif [ "$m" = bridge ] && ! check_bridge "$t"; then
				C_STATUS[$cl]=failed
				log "$cl: failed: ${C_NOTE[$cl]}"
			fi
		done
	done
	ACTIVE=()
	for cl in "${CELLS[@]}"; do [ "${C_STATUS[$cl]}" = ok ] && ACTIVE+=("$cl"); done
	if [ "$WARMUP" -gt 0 ] && [ ${#ACTIVE[@]} -gt 0 ]; then
		log "start: warm-up (untimed, $WARMUP run(s) each): ${ACTIVE[*]}"
		for cl in "${ACTIVE[@]}"; do
			for ((w = 1; w <= WARMUP; w++)); do
				if run_cell "$cl" "w$w"; then
					log "  $cl warm-up $(fmt_ms "$LAST_US") ms"
				else
					C_STATUS[$cl]=failed C_NOTE[$cl]="failed in warm-up: $(first_err "$WORK/logs/${cl/\//-}.w$w.log")"
					break
				fi
			done
		done
		NEW=()
		for cl in "${ACTIVE[@]}"; do [ "${C_STATUS[$cl]}" = ok ] && NEW+=("$cl"); done
		ACTIVE=("${NEW[@]}")
	fi
	RAW1="| round | order | $(for cl in "${CELLS[@]}"; do printf '%s | ' "$cl"; done)
|---|---|$(for _ in "${CELLS[@]}"; do printf -- '---:|'; done)
"
	n=${#ACTIVE[@]}
	for ((r = 0; r < ROUNDS; r++)); do
		[ "$n" -gt 0 ] || break
		order=()
		for ((i = 0; i < n; i++)); do order+=("${ACTIVE[(i + r) % n]}"); done
		declare -A cell=()
		line=''
		for cl in "${order[@]}"; do
			if run_cell "$cl" "$((r + 1))"; then
				C_TIMES[$cl]+="$LAST_US "
				cell[$cl]=$(fmt_ms "$LAST_US")
			else
				C_NFAIL[$cl]=$((C_NFAIL[$cl] + 1))
				cell[$cl]=failed
			fi
			line+=" $cl=${cell[$cl]}"
		done
		log "start round $((r + 1))/$ROUNDS:$line"
		RAW1+="| $((r + 1)) | ${order[*]} | $(for cl in "${CELLS[@]}"; do printf '%s | ' "${cell[$cl]:--}"; done)
"
		unset cell
	done
	for cl in "${CELLS[@]}"; do
		[ "${C_STATUS[$cl]}" = ok ] || continue
		if [ -z "${C_TIMES[$cl]// /}" ]; then
			C_STATUS[$cl]=failed
			C_NOTE[$cl]="failed in all $ROUNDS rounds: $(first_err "$WORK/logs/${cl/\//-}.$ROUNDS.log")"
			continue
		fi
		# shellcheck disable=SC2086
		read -r "C_MED[$cl]" "C_MIN[$cl]" "C_MAX[$cl]" <<<"$(stats ${C_TIMES[$cl]})"
		[ "${C_NFAIL[$cl]}" -gt 0 ] && C_NOTE[$cl]="${C_NFAIL[$cl]}/$ROUNDS rounds failed"
	done
fi
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------ test 2: TCP throughput --
TCP_TOOLS=()
if want_test tcp; then
	for t in hull docker docker-noproxy; do want_tool "$t" && TCP_TOOLS+=("$t"); done
fi
PATHS=(pub direct c2c)
path_label() {
	case $1 in
	pub) echo "host → published port (127.0.0.1)" ;;
	direct) echo "host → container IP (direct veth)" ;;
	c2c) echo "container → container (user-defined network)" ;;
	esac
}
declare -A P_STATUS=() P_NOTE=() P_RUNS=() P_MED=() P_MIN=() P_MAX=() T_INFO=() P_ERR=()
RAW2=''
free_port() { # a free TCP port on 127.0.0.1 from 15201 up
	local p
	for ((p = 15201; p < 15400; p++)); do
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
	return 1
}
cip() { # cip TOOL NAME: the container's IPv4 address
	eng "$1" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$2"
}
mbits() { # the receiver's Mbit/s from `iperf3 -f m` output on stdin
	awk '/receiver/ { for (i = 2; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { if (v != "") print v; else exit 1 }'
}
# iperf_run TOOL PATH SECONDS LOGFILE -> MBITS (empty on failure, and
# IPERF_ERR the first error line)
iperf_run() {
	local t=$1 p=$2 s=$3 lg=$4 rc=0 out
	MBITS='' IPERF_ERR=''
	case $p in
	pub) set -- iperf3 -c 127.0.0.1 -p "${T_PORT[$t]}" ;;
	direct) set -- iperf3 -c "${T_IP1[$t]}" -p 5201 ;;
	c2c)
		eng_cmd "$t"
		local id="$TAG-$t-cli-$RANDOM"
		CREATED["$t $id"]=1
		set -- "${ENG[@]}" run "${RUNOPT[@]}" --rm --network "${T_NET[$t]}" --name "$id" "$IMG" iperf3 -c "${T_IP2[$t]}" -p 5201
		;;
	esac
	set -- "$@" -t "$s" -f m --connect-timeout 3000
	echo "+ $*" >>"$lg"
	out=$(timeout $((s + 30)) "$@" 2>&1 </dev/null) || rc=$?
	echo "$out" >"$WORK/iperf.out"
	cat "$WORK/iperf.out" >>"$lg"
	if [ "$rc" != 0 ]; then
		IPERF_ERR=$(first_err "$WORK/iperf.out")
		[ "$rc" = 124 ] && IPERF_ERR="timed out after $((s + 30)) s: $IPERF_ERR"
		return 1
	fi
	[ "$p" = c2c ] && unset "CREATED[$t $id]"
	MBITS=$(mbits <<<"$out") || { MBITS='' IPERF_ERR="no receiver rate in iperf3's output: $(first_err "$WORK/iperf.out")"; return 1; }
}
declare -A T_PORT=() T_IP1=() T_IP2=() T_NET=()
tcp_tool() {
	local t=$1 lg="$WORK/logs/tcp-$1.log" s1="$TAG-$1-srv" s2="$TAG-$1-srv2" nname="$TAG-$1-net" p ok w pout
	: >"$lg"
	for p in "${PATHS[@]}"; do P_STATUS[$t/$p]=ok P_RUNS[$t/$p]=''; done
	fail_paths() { # fail_paths NOTE PATH...
		local n=$1 q; shift
		for q in "$@"; do
			[ "${P_STATUS[$t/$q]}" = ok ] || continue
			P_STATUS[$t/$q]=failed P_NOTE[$t/$q]=$n
			log "  $t $q: failed: $n"
		done
		return 0
	}
	step() { # step CMD...: run it, output appended to the log; STEP_ERR = its first error line
		local rc=0
		"$@" >"$WORK/step.out" 2>&1 </dev/null || rc=$?
		cat "$WORK/step.out" >>"$lg"
		STEP_ERR=''
		[ "$rc" = 0 ] || STEP_ERR=$(first_err "$WORK/step.out")
		return $rc
	}
	if ! ensure_tool "$t"; then
		fail_paths "${T_NOTE[$t]}" "${PATHS[@]}"
		return
	fi
	# Server 1, on the default network with a published port: paths pub and direct.
	T_PORT[$t]=$(free_port) || { fail_paths "no free port on 127.0.0.1" pub; T_PORT[$t]=15201; }
	CREATED["$t $s1"]=1
	echo "+ run -d --name $s1 -p 127.0.0.1:${T_PORT[$t]}:5201 $IMG" >>"$lg"
	if step eng "$t" run "${RUNOPT_T[@]}" -d --name "$s1" -p "127.0.0.1:${T_PORT[$t]}:5201" "$IMG"; then
		T_IP1[$t]=$(cip "$t" "$s1" 2>>"$lg") || true
		echo "+ inspect: ${T_IP1[$t]}" >>"$lg"
		[[ ${T_IP1[$t]} =~ ^[0-9]+(\.[0-9]+){3}$ ]] ||
			fail_paths "the container has no IPv4 address (inspect: '${T_IP1[$t]}')" direct
		pout=$(eng "$t" port "$s1" 5201/tcp 2>&1 | head -1) || true
		echo "+ port $s1 5201/tcp: $pout" >>"$lg"
		T_INFO[$t]="\`port\`: ${pout:-nothing}"
	else
		fail_paths "$STEP_ERR" pub direct
	fi
	# Server 2, on a user-defined network: path c2c (the client is a
	# container on the same network).
	echo "+ network create $nname" >>"$lg"
	if step eng "$t" network create "$nname"; then
		NETWORKS["$t $nname"]=1 T_NET[$t]=$nname
		CREATED["$t $s2"]=1
		echo "+ run -d --name $s2 --network $nname $IMG" >>"$lg"
		if step eng "$t" run "${RUNOPT_T[@]}" -d --name "$s2" --network "$nname" "$IMG"; then
			T_IP2[$t]=$(cip "$t" "$s2" 2>>"$lg") || true
			echo "+ inspect: ${T_IP2[$t]}" >>"$lg"
			[[ ${T_IP2[$t]} =~ ^[0-9]+(\.[0-9]+){3}$ ]] ||
				fail_paths "the container has no IPv4 address (inspect: '${T_IP2[$t]}')" c2c
		else
			fail_paths "$STEP_ERR" c2c
		fi
	else
		fail_paths "network create: $STEP_ERR" c2c
	fi
	# Warm-up (untimed): a 1 s run per path, tried up to 6 times while the server starts.
	for p in "${PATHS[@]}"; do
		[ "${P_STATUS[$t/$p]}" = ok ] || continue
		ok=0
		for ((w = 1; w <= 6; w++)); do
			: >"$WORK/logs/tcp-$t-$p.w.log"
			if iperf_run "$t" "$p" 1 "$WORK/logs/tcp-$t-$p.w.log"; then ok=1; break; fi
			sleep 0.5
		done
		cat "$WORK/logs/tcp-$t-$p.w.log" >>"$lg"
		if [ "$ok" = 1 ]; then
			log "  $t $p warm-up: $(awk -v m="$MBITS" 'BEGIN { printf "%.2f", m / 1000 }') Gbit/s"
		else
			fail_paths "$IPERF_ERR" "$p"
		fi
	done
	local act=() n i r order line nok
	for p in "${PATHS[@]}"; do [ "${P_STATUS[$t/$p]}" = ok ] && act+=("$p"); done
	n=${#act[@]}
	for ((r = 0; r < IPERF_RUNS && n > 0; r++)); do
		order=() line=''
		for ((i = 0; i < n; i++)); do order+=("${act[(i + r) % n]}"); done
		declare -A cell=()
		for p in "${order[@]}"; do
			if iperf_run "$t" "$p" "$IPERF_TIME" "$lg"; then
				P_RUNS[$t/$p]+="$MBITS "
				cell[$p]=$(awk -v m="$MBITS" 'BEGIN { printf "%.2f", m / 1000 }')
			else
				cell[$p]=failed
				P_ERR[$t/$p]=$IPERF_ERR
				log "  $t $p run $((r + 1)): FAILED: $IPERF_ERR"
			fi
			line+=" $p=${cell[$p]}"
		done
		log "tcp $t run $((r + 1))/$IPERF_RUNS:$line"
		RAW2+="| $(label "$t") | $((r + 1)) | ${order[*]} | $(for p in "${PATHS[@]}"; do printf '%s | ' "${cell[$p]:--}"; done)
"
		unset cell
	done
	for p in "${PATHS[@]}"; do
		[ "${P_STATUS[$t/$p]}" = ok ] || continue
		if [ -z "${P_RUNS[$t/$p]// /}" ]; then
			P_STATUS[$t/$p]=failed P_NOTE[$t/$p]="failed in all $IPERF_RUNS runs: ${P_ERR[$t/$p]:-}"
			continue
		fi
		nok=$(wc -w <<<"${P_RUNS[$t/$p]}")
		if [ "$nok" -lt "$IPERF_RUNS" ]; then
			P_NOTE[$t/$p]="$p: $((IPERF_RUNS - nok))/$IPERF_RUNS runs failed (${P_ERR[$t/$p]:-})"
		fi
		# Mbit/s; stats rounds to integers, fine at this scale.
		# shellcheck disable=SC2086
		read -r "P_MED[$t/$p]" "P_MIN[$t/$p]" "P_MAX[$t/$p]" <<<"$(stats ${P_RUNS[$t/$p]})"
	done
	remove_created "$t"
}
RUNOPT_T=()
for t in "${TCP_TOOLS[@]}"; do
	log "tcp: $t ($IPERF_RUNS × $IPERF_TIME s per path)"
	eng_cmd "$t"
	RUNOPT_T=("${RUNOPT[@]}")
	tcp_tool "$t"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
[ -n "$DOCKERD_PID" ] && { for t in docker docker-noproxy; do remove_created "$t"; done; stop_dockerd; }

# ---------------------------------------------------------------- report --
STAMP=$(date +%Y-%m-%d-%H%M%S)
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/network-$STAMP.md"
gbit() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
cell_text() { # cell_text C: median (or why not)
	local cl=$1
	if [ -n "${C_MED[$cl]:-}" ]; then fmt_ms "${C_MED[$cl]}"; else echo "failed: ${C_NOTE[$cl]:-}"; fi
}
delta_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (a - b) / 1000 }'; }

{
	echo "# Network benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo
	echo "Image \`$IMG\`: Debian's busybox-static and iperf3 $(dpkg-query -W -f '${Version}' iperf3 2>/dev/null) with the" \
		"shared libraries \`ldd\` lists ($IMG_DESC), one layer, default command \`iperf3 -s\`," \
		"built by bench/mkimage as a docker-archive and loaded with \`load -i\` into every tool." \
		"All tools ran in one private network namespace made for this run (lo, plus what the engines created)."
	if want_test start; then
		echo
		echo "## Start latency with networking: \`run --rm $IMG true\`"
		echo
		echo "$ROUNDS interleaved rounds (+$WARMUP untimed warm-up run each), order rotated every round;" \
			"wall-clock time of the whole command (create, network set-up, start, wait for exit, network tear-down, delete)." \
			"\"bridge\" is the tool's default network (no \`--network\` option); \"none\" is \`--network none\`."
		echo
		echo "| tool | none: median ms | bridge: median ms | bridge − none ms | none min–max | bridge min–max | bridge vs hull bridge | notes |"
		echo "|---|---:|---:|---:|---:|---:|---:|---|"
		for t in "${START_TOOLS[@]}"; do
			n="$t/none" b="$t/bridge" d='' notes=''
			[ -n "${C_MED[$n]:-}" ] && [ -n "${C_MED[$b]:-}" ] && d=$(delta_ms "${C_MED[$b]}" "${C_MED[$n]}")
			[ -n "${C_NOTE[$n]:-}" ] && [ -n "${C_MED[$n]:-}" ] && notes+="none: ${C_NOTE[$n]}. "
			[ -n "${C_NOTE[$b]:-}" ] && [ -n "${C_MED[$b]:-}" ] && notes+="bridge: ${C_NOTE[$b]}. "
			[ -n "${BRIDGE_ADDR[$t]:-}" ] && notes+="bridge address: ${BRIDGE_ADDR[$t]}"
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(cell_text "$n")" "$(cell_text "$b")" "${d:-n/a}" \
				"$([ -n "${C_MED[$n]:-}" ] && echo "$(fmt_ms "${C_MIN[$n]}")–$(fmt_ms "${C_MAX[$n]}")")" \
				"$([ -n "${C_MED[$b]:-}" ] && echo "$(fmt_ms "${C_MIN[$b]}")–$(fmt_ms "${C_MAX[$b]}")")" \
				"$([ -n "${C_MED[$b]:-}" ] && ratio "${C_MED[$b]}" "${C_MED[hull/bridge]:-}")" "$notes"
		done
		echo
		if want_tool hull; then
			if [ -n "${C_MED[hull/bridge]:-}" ] && [ -n "${C_MED[hull/none]:-}" ]; then
				d=$(awk -v a="${C_MED[hull/bridge]}" -v b="${C_MED[hull/none]}" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
				if awk -v d="$d" -v g="$GOAL_START_MS" 'BEGIN { exit !(d <= g) }'; then v="**met**"; else v="**not met**"; fi
				echo "Goal: hull's bridge adds at most $GOAL_START_MS ms over none: $v (adds $d ms)."
			else
				echo "Goal: hull's bridge adds at most $GOAL_START_MS ms over none: **pending** (hull bridge: $(cell_text hull/bridge))."
			fi
			echo
		fi
		echo "The \"vs hull bridge\" column divides each tool's bridge median by hull's (above 1× means slower than hull)."
		echo "Earlier measurements on this machine: docker's bridge added about 60 ms over none, podman's 200–300 ms."
		echo
	fi
	if want_test tcp; then
		echo "## TCP throughput (iperf3)"
		echo
		echo "One TCP stream, $IPERF_RUNS runs of $IPERF_TIME s per path after an untimed 1 s warm-up," \
			"the paths' order rotated every run; the receiver's rate, median Gbit/s (min–max)." \
			"Server: the image's \`iperf3 -s\` in a detached container. Paths:" \
			"**published**: \`iperf3 -c 127.0.0.1 -p PORT\` on the host to the server run with \`-p 127.0.0.1:PORT:5201\`;" \
			"**direct**: \`iperf3 -c IP\` on the host to the same container's address (from \`inspect\`), the plain veth and bridge path;" \
			"**c2c**: a client container (\`run --rm --network NET IMG iperf3 -c IP\`) to a second server on the user-defined network NET (\`network create NET\`), by IP address."
		echo
		echo "| tool | published Gbit/s | direct Gbit/s | published ÷ direct | container → container Gbit/s | notes |"
		echo "|---|---:|---:|---:|---:|---|"
		for t in "${TCP_TOOLS[@]}"; do
			cells=() notes=''
			for p in "${PATHS[@]}"; do
				if [ -n "${P_MED[$t/$p]:-}" ]; then
					cells+=("$(gbit "${P_MED[$t/$p]}") ($(gbit "${P_MIN[$t/$p]}")–$(gbit "${P_MAX[$t/$p]}"))")
				else
					cells+=("failed: ${P_NOTE[$t/$p]:-}")
				fi
			done
			r='n/a'
			[ -n "${P_MED[$t/pub]:-}" ] && [ -n "${P_MED[$t/direct]:-}" ] && r="$(pct "${P_MED[$t/pub]}" "${P_MED[$t/direct]}") %"
			for p in "${PATHS[@]}"; do
				[ -n "${P_MED[$t/$p]:-}" ] && [ -n "${P_NOTE[$t/$p]:-}" ] && notes+="${P_NOTE[$t/$p]//|/\/}. "
			done
			[ -n "${T_INFO[$t]:-}" ] && notes+=${T_INFO[$t]//|/\/}
			printf '| %s | %s | %s | %s | %s | %s |\n' "$(label "$t")" "${cells[0]}" "${cells[1]}" "$r" "${cells[2]}" "$notes"
		done
		echo
		if want_tool hull; then
			if [ -n "${P_MED[hull/pub]:-}" ] && [ -n "${P_MED[hull/direct]:-}" ]; then
				x=$(pct "${P_MED[hull/pub]}" "${P_MED[hull/direct]}")
				if [ "$x" -ge "$GOAL_PUB_PCT" ]; then v="**met**"; else v="**not met**"; fi
				echo "Goal: hull's published-port path ≥ $GOAL_PUB_PCT % of its direct veth path: $v ($x %)."
			else
				echo "Goal: hull's published-port path ≥ $GOAL_PUB_PCT % of its direct veth path: **pending**" \
					"(published: ${P_NOTE[hull/pub]:-ok}; direct: ${P_NOTE[hull/direct]:-ok})."
			fi
			echo
			peers=()
			for t in "${TCP_TOOLS[@]}"; do [ "$t" != hull ] && peers+=("$t"); done
			if [ ${#peers[@]} -gt 0 ]; then
				echo "hull's median divided by each peer's (above 1× means hull is faster):"
				echo
				echo "| path | $(for t in "${peers[@]}"; do printf 'hull ÷ %s | ' "$(label "$t")"; done)"
				echo "|---|$(for _ in "${peers[@]}"; do printf -- '---:|'; done)"
				for p in "${PATHS[@]}"; do
					echo "| $(path_label "$p") | $(for t in "${peers[@]}"; do
						if [ -n "${P_MED[hull/$p]:-}" ] && [ -n "${P_MED[$t/$p]:-}" ]; then ratio "${P_MED[hull/$p]}" "${P_MED[$t/$p]}"; else printf 'n/a'; fi
						printf ' | '
					done)"
				done
				echo
			fi
		fi
	fi
	if [ -n "$RAW1" ]; then
		echo "## Per-round milliseconds (start)"
		echo
		printf '%s' "$RAW1"
		echo
	fi
	if [ -n "$RAW2" ]; then
		echo "## Per-run Gbit/s (TCP)"
		echo
		echo "| tool | run | order | published | direct | c2c |"
		echo "|---|---|---|---:|---:|---:|"
		printf '%s' "$RAW2"
		echo
	fi
	echo "## Environment"
	echo
	echo "- host: $(host_desc)"
	echo "- load average (1/5/15 min) before the start rounds: $LOAD_START; after them: $LOAD_MID;" \
		"after the TCP runs: $LOAD_END (above $(nproc) means other work competed for the CPUs)"
	echo "- network: a private network and mount namespace for the whole run (\`unshare --net --mount\`)," \
		"with its own sysfs and /run; $(iptables --version 2>/dev/null || echo 'no iptables')"
	echo "- hull: $(hull_desc "$HULL" "$HULL_SRC"), copied at the start of the run$([ -x "$HULL" ] && echo ", sha256 $(sha256sum "$HULL" | cut -c1-12)")"
	echo "- podman: $(ver podman --version), runtime ${PODMAN_RUNTIME:-default}, network backend $(ver pm info --format '{{.Host.NetworkBackend}}')" \
		"(netavark $(dpkg-query -W -f '${Version}' netavark 2>/dev/null || echo -)), overlay, cgroupfs${PODMAN_ULIMITS:+, \`$PODMAN_ULIMITS\`}"
	echo "- dockerd: $(ver dockerd --version) (private daemons, overlay2, default bridge and iptables;" \
		"\"docker\" with the userland proxy \`$(command -v docker-proxy || echo docker-proxy)\`, the default, and" \
		"\"docker --userland-proxy=false\" a second daemon started afterwards; client $(ver "${DOCKER_CLI:-false}" --version))"
	echo "- iperf3: $(ver iperf3 --version) on the host and in the image"
	echo "- command: \`ROUNDS=$ROUNDS IPERF_RUNS=$IPERF_RUNS IPERF_TIME=$IPERF_TIME TESTS=\"$TESTS\" TOOLS=\"$TOOLS\" ./bench/network.sh\`"
} | tee "$OUT"
log "report written to $OUT"

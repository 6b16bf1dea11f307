#!/usr/bin/env bash
# Build benchmark: `build` of one multi-stage Dockerfile (two stages, a COPY
# of 200 files, three RUN steps, busybox base) by hull, docker with BuildKit,
# docker's legacy builder and `buildah bud --layers`: a cold build, a
# no-change rebuild and a rebuild after one source file changed, interleaved
# over several rounds; medians and ratios against BuildKit. See
# bench/README.md.
#
#   sudo ./bench/build.sh                          # ROUNDS=7
#   sudo ROUNDS=11 TOOLS="hull docker" ./bench/build.sh
#
# Everything runs in a private network and mount namespace made for the run,
# with its own /run (as in network.sh): dockerd's bridge and firewall rules,
# which its BuildKit needs for RUN steps, never touch the host.
#
# The markdown report goes to stdout and bench/results/build-<date>.md;
# progress goes to stderr.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=bench/lib.sh
. "$(dirname "$SELF")/lib.sh" # also KEEP, RUN_TIMEOUT, PODMAN_ULIMITS, DOCKER_CLI

ROUNDS=${ROUNDS:-7}
WARMUP=${WARMUP:-1}
TOOLS=${TOOLS:-"hull docker docker-legacy buildah"}
FILES=${FILES:-200}
RUN_TIMEOUT=${BUILD_TIMEOUT:-120} # time limit of one build (timed_cmd)
IMG=busybox:latest
KNOWN_TOOLS=" hull docker docker-legacy buildah "
KINDS=(cold nochange onechange)

bench_init
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a non-negative integer"
[[ "$FILES" =~ ^[1-9][0-9]*$ ]] || die "FILES must be a positive integer"
read -r -a ALL <<<"$TOOLS"
for t in "${ALL[@]}"; do
	[[ $KNOWN_TOOLS == *" $t "* ]] || die "unknown tool '$t' (known:$KNOWN_TOOLS)"
done
want_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

# ------------------------------------------------------ outside: the host --
# Packages and Go builds need the host's network; then the script runs itself
# again in new network and mount namespaces (HSB_BUILD_WORK names its work dir).
if [ -z "${HSB_BUILD_WORK:-}" ]; then
	ensure_packages dpkg:busybox-static buildah:buildah runc:runc dockerd:docker.io docker:docker.io \
		containerd-shim-runc-v2:containerd iptables:iptables ip:iproute2 unshare:util-linux timeout:coreutils
	command -v go >/dev/null 2>&1 || die "go not found in PATH"
	# A short path: podman and buildah refuse a runroot longer than 50 characters.
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hbb.XXXXXX")
	chmod 755 "$WORK"
	trap 'rm -rf "$WORK"' EXIT
	ensure_hull
	# The whole run uses one copy of the binary, even if bin/hull is rebuilt meanwhile.
	if [ -x "$HULL" ]; then mkdir -p "$WORK/bin" && cp -p "$HULL" "$WORK/bin/hull"; fi
	build_helper mkimage
	trap - EXIT
	log "entering a private network and mount namespace"
	export HSB_BUILD_WORK=$WORK
	exec unshare --net --mount --propagation private -- bash "$SELF" "$@"
fi

# ------------------------------------------- inside: private namespaces --
WORK=$HSB_BUILD_WORK
HULL_SRC=$HULL
[ -x "$WORK/bin/hull" ] && HULL="$WORK/bin/hull"
HULL_ROOT="$WORK/hull/root" HULL_RUN="$WORK/hull/run" # for hl (lib.sh)
export HULL_NETWORK_DIR="$WORK/hull/network"
mkdir -p "$WORK/tmp" # buildah's TMPDIR (temporary files, cache mounts), gone with the run
BH=(env "TMPDIR=$WORK/tmp" buildah --root "$WORK/bh/r" --runroot "$WORK/bh/rr" --storage-driver overlay)
read -r -a BH_OPTS <<<"$PODMAN_ULIMITS" # buildah's default rlimits are above this host's hard limits
BH_RUNTIME=''
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
	BH_RUNTIME=runc # crun fails on v1 and hybrid hosts
	BH_OPTS+=(--runtime runc)
fi
bh() { "${BH[@]}" "$@"; }

cleanup() {
	set +e
	stop_dockerd
	[ -d "$WORK/bh" ] && bh rm -a >/dev/null 2>&1
	end_ns_procs
	umount_under "$WORK"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_ns_mounts # lib.sh
detect_cgfix   # CGFIX, for the report's cgroup line (lib.sh)
write_timed_sh # $WORK/timed.sh, used by timed_cmd (lib.sh)
mkdir -p "$WORK/logs"

# ------------------------------------------------------- image, context --
# The base: start.sh's busybox root filesystem, packed by bench/mkimage as a
# one-layer docker-archive (Env PATH, Cmd ["sh"]) that every tool loads.
make_busybox_rootfs "$WORK/rootfs"
"$WORK/mkimage" -rootfs "$WORK/rootfs" -out "$WORK/layers" -split '*' -tar "$WORK/busybox.tar" \
	-tag "$IMG" -cmd sh >"$WORK/mkimage.out" 2>"$WORK/mkimage.log" ||
	{ cat "$WORK/mkimage.log" >&2; die "bench/mkimage failed"; }

# The context: FILES small C-like sources under src/ (about 1 KiB each) and
# the Dockerfile. One-change rebuilds edit src/f0001.c.
CTX="$WORK/ctx"
mkdir -p "$CTX/src"
for ((i = 1; i <= FILES; i++)); do
	f=$(printf '%s/src/f%04d.c' "$CTX" "$i")
	{
		printf '/* file %d of %d */\n' "$i" "$FILES"
		for ((l = 1; l <= 24; l++)); do printf 'int f%d_%d(int x) { return x * %d + %d; }\n' "$i" "$l" "$l" "$i"; done
	} >"$f"
done
CHANGED="$CTX/src/f0001.c"
cp "$CHANGED" "$WORK/changed.orig"
cat >"$CTX/Dockerfile" <<'EOF'
FROM busybox AS build
COPY src/ /src/
RUN cat /src/*.c | sha256sum > /sum && wc -l /src/*.c | tail -1 >> /sum
RUN mkdir -p /out/src && cp /src/*.c /out/src/ && cp /sum /out/sum

FROM busybox
COPY --from=build /out/ /app/
RUN sha256sum /app/sum > /app/check && find /app -type f | wc -l >> /app/check
CMD ["cat", "/app/check"]
EOF
CTX_DESC="$FILES files under src/ ($(du -sk "$CTX/src" | cut -f1) KiB) and the Dockerfile"

# -------------------------------------------------------------- tools --
# Each tool has: setup_T (once: start it, load the base image; non-zero =
# failed, reason in T_NOTE), cmd_T (sets CMD, the timed build), wipe_T
# (untimed: back to a store holding only the base image, no build cache)
# and id_T (prints the ID of the image built, for the sanity checks).
declare -A T_NOTE=() T_TAG=()
first_err() { # first_err LOGFILE: the first error-looking line (or the first line), one line
	local l
	l=$(grep -v '^+ ' "$1" 2>/dev/null | grep -m1 -iE 'error|fail|denied|unable|cannot|not |invalid|unknown|no such|usage' ||
		grep -v '^+ ' "$1" 2>/dev/null | grep -m1 .) || true
	l=${l//|/\/}
	echo "${l:0:200}"
}

setup_hull() {
	[ -x "$HULL" ] || { T_NOTE[hull]="no hull binary at $HULL_SRC"; return 1; }
	wipe_hull
}
wipe_hull() { # a new, empty store with the base image loaded
	umount_under "$WORK/hull"
	rm -rf "$WORK/hull"
	mkdir -p "$HULL_ROOT" "$HULL_RUN" "$HULL_NETWORK_DIR"
	hl load -i "$WORK/busybox.tar" >"$WORK/logs/hull-load.log" 2>&1 ||
		{ T_NOTE[hull]="load failed: $(first_err "$WORK/logs/hull-load.log")"; return 1; }
}
cmd_hull() { CMD=("$HULL" --root "$HULL_ROOT" --runroot "$HULL_RUN" build -t "${T_TAG[hull]}" "$CTX"); }
id_hull() { hl image inspect -f '{{.Id}}' "${T_TAG[hull]}"; }

setup_docker() {
	if [ -z "$DOCKERD_PID" ]; then
		start_dockerd "$WORK/docker" || { T_NOTE[$1]=$DOCKERD_ERR; return 1; }
	fi
	dk image inspect "$IMG" >/dev/null 2>&1 || dk load -i "$WORK/busybox.tar" >"$WORK/logs/docker-load.log" 2>&1 ||
		{ T_NOTE[$1]="load failed: $(first_err "$WORK/logs/docker-load.log")"; return 1; }
}
wipe_docker() { # every image but the base, and all of BuildKit's cache
	local ids=() base
	base=$(dk image inspect -f '{{.Id}}' "$IMG")
	mapfile -t ids < <(dk images -aq --no-trunc | sort -u | grep -vxF "$base" || true)
	if [ ${#ids[@]} -gt 0 ]; then dk rmi -f "${ids[@]}" >/dev/null 2>&1 || true; fi
	dk builder prune -af >/dev/null 2>&1 || true
	[ "$(dk images -aq | sort -u | wc -l)" = 1 ] ||
		log "docker: images left after the wipe: $(dk images -a --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
}
docker_build() { # docker_build BUILDKIT(0|1) TAG
	CMD=(env "DOCKER_BUILDKIT=$1" "DOCKER_CONFIG=$DOCKER_CONFIG" "$DOCKER_CLI" -H "$DSOCK" build -t "$2" "$CTX")
}
setup_docker-legacy() { setup_docker docker-legacy; }
wipe_docker-legacy() { wipe_docker; }
cmd_docker() { docker_build 1 "${T_TAG[docker]}"; }
cmd_docker-legacy() { docker_build 0 "${T_TAG[docker-legacy]}"; }
id_docker() { dk image inspect -f '{{.Id}}' "${T_TAG[docker]}"; }
id_docker-legacy() { dk image inspect -f '{{.Id}}' "${T_TAG[docker-legacy]}"; }

setup_buildah() {
	command -v buildah >/dev/null || { T_NOTE[buildah]="buildah not installed"; return 1; }
	wipe_buildah
}
wipe_buildah() { # every image and container removed, the base pulled again
	bh rm -a >/dev/null 2>&1 || true
	bh rmi -a -f >/dev/null 2>&1 || true
	bh pull -q "docker-archive:$WORK/busybox.tar" >"$WORK/logs/buildah-load.log" 2>&1 ||
		{ T_NOTE[buildah]="load failed: $(first_err "$WORK/logs/buildah-load.log")"; return 1; }
}
cmd_buildah() { CMD=("${BH[@]}" bud "${BH_OPTS[@]}" --layers -t "${T_TAG[buildah]}" "$CTX"); }
id_buildah() { bh inspect --type image -f '{{.FromImageID}}' "${T_TAG[buildah]}"; }

label() {
	case $1 in
	hull) echo "hull build" ;;
	docker) echo "docker build (BuildKit)" ;;
	docker-legacy) echo "docker build (legacy, DOCKER_BUILDKIT=0)" ;;
	buildah) echo "buildah bud --layers" ;;
	esac
}
kind_label() {
	case $1 in
	cold) echo "cold" ;;
	nochange) echo "no-change" ;;
	onechange) echo "one-change" ;;
	esac
}

# sequence TOOL ROUNDLABEL: wipe (untimed), then the three timed builds.
# Sets SEQ_US[kind] (empty on failure) and SEQ_ERR[kind]; IDs in SEQ_ID[kind].
declare -A SEQ_US=() SEQ_ERR=() SEQ_ID=()
build_one() { # build_one TOOL KIND ROUNDLABEL
	local t=$1 k=$2 r=$3 lg="$WORK/logs/$1.$3.$2.log" rc=0
	"cmd_$t"
	echo "+ ${CMD[*]}" >"$lg"
	sync
	timed_cmd "$t" "${CMD[@]}" </dev/null >>"$lg" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		SEQ_US[$k]='' SEQ_ERR[$k]=$(first_err "$lg")
		[ "$rc" = 124 ] && SEQ_ERR[$k]="timed out after $RUN_TIMEOUT s: ${SEQ_ERR[$k]}"
		log "$t $(kind_label "$k") round $r: FAILED (exit $rc): ${SEQ_ERR[$k]}"
		return 1
	fi
	SEQ_US[$k]=$LAST_US SEQ_ERR[$k]=''
	SEQ_ID[$k]=$("id_$t" 2>/dev/null || true)
}
sequence() {
	local t=$1 r=$2 k
	SEQ_US=() SEQ_ERR=() SEQ_ID=()
	cp "$WORK/changed.orig" "$CHANGED"
	if ! "wipe_$t" >>"$WORK/logs/$t.wipe.log" 2>&1; then
		for k in "${KINDS[@]}"; do SEQ_US[$k]='' SEQ_ERR[$k]="wipe failed: ${T_NOTE[$t]:-see logs}"; done
		return
	fi
	build_one "$t" cold "$r" || true
	build_one "$t" nochange "$r" || true
	# One source file changes: a line that is new in every round.
	printf 'int changed_%s(void) { return %d; }\n' "${r//[^a-z0-9]/_}" "$RANDOM" >>"$CHANGED"
	build_one "$t" onechange "$r" || true
	cp "$WORK/changed.orig" "$CHANGED"
}

# ------------------------------------------------------------- set-up --
ACTIVE=()
for t in "${ALL[@]}"; do
	T_TAG[$t]="bench/build-$t:latest"
	log "setting up $t"
	if "setup_$t" >"$WORK/logs/setup-$t.log" 2>&1; then
		ACTIVE+=("$t")
	else
		[ -n "${T_NOTE[$t]:-}" ] || T_NOTE[$t]="set-up failed: $(first_err "$WORK/logs/setup-$t.log")"
		log "$t: failed: ${T_NOTE[$t]}"
	fi
done

declare -A TIMES=() C_NOTE=() C_FAIL=() IDCHK=()
for t in "${ALL[@]}"; do for k in "${KINDS[@]}"; do TIMES[$t/$k]='' C_FAIL[$t/$k]=0; done; done

# Warm-up: one untimed sequence per tool. A tool whose three builds all
# fail there is reported as failed (with the first error line of each) and
# left out of the rounds; any success keeps it in.
if [ "$WARMUP" -gt 0 ] && [ ${#ACTIVE[@]} -gt 0 ]; then
	log "warm-up (untimed, $WARMUP sequence(s) each): ${ACTIVE[*]}"
	NEW=()
	for t in "${ACTIVE[@]}"; do
		ok=0
		for ((w = 1; w <= WARMUP; w++)); do
			sequence "$t" "w$w"
			line=''
			for k in "${KINDS[@]}"; do
				if [ -n "${SEQ_US[$k]}" ]; then ok=1; line+=" $(kind_label "$k")=$(fmt_ms "${SEQ_US[$k]}") ms"; else line+=" $(kind_label "$k")=failed"; fi
			done
			log "  $t warm-up:$line"
		done
		if [ "$ok" = 1 ]; then
			NEW+=("$t")
		else
			for k in "${KINDS[@]}"; do C_NOTE[$t/$k]="failed: ${SEQ_ERR[$k]}"; done
		fi
	done
	ACTIVE=("${NEW[@]}")
fi

# -------------------------------------------------------------- rounds --
RAW="| round | order | $(for t in "${ALL[@]}"; do for k in "${KINDS[@]}"; do printf '%s %s | ' "$t" "$(kind_label "$k")"; done; done)
|---|---|$(for _ in "${ALL[@]}"; do printf -- '---:|---:|---:|'; done)
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
		sequence "$t" "$((r + 1))"
		for k in "${KINDS[@]}"; do
			if [ -n "${SEQ_US[$k]}" ]; then
				TIMES[$t/$k]+="${SEQ_US[$k]} "
				cell[$t/$k]=$(fmt_ms "${SEQ_US[$k]}")
			else
				C_FAIL[$t/$k]=$((C_FAIL[$t/$k] + 1))
				cell[$t/$k]=failed
				C_NOTE[$t/$k]="failed: ${SEQ_ERR[$k]}"
			fi
		done
		# Sanity: the no-change rebuild gives the same image, the one-change rebuild a new one.
		if [ -n "${SEQ_ID[cold]:-}" ] && [ -n "${SEQ_ID[nochange]:-}" ] && [ -n "${SEQ_ID[onechange]:-}" ]; then
			[ "${SEQ_ID[cold]}" = "${SEQ_ID[nochange]}" ] || IDCHK[$t/same]=$((${IDCHK[$t/same]:-0} + 1))
			[ "${SEQ_ID[nochange]}" != "${SEQ_ID[onechange]}" ] || IDCHK[$t/new]=$((${IDCHK[$t/new]:-0} + 1))
		fi
		line+=" $t=${cell[$t/cold]}/${cell[$t/nochange]}/${cell[$t/onechange]}"
	done
	log "round $((r + 1))/$ROUNDS (cold/no-change/one-change ms):$line"
	RAW+="| $((r + 1)) | ${order[*]} | $(for t in "${ALL[@]}"; do for k in "${KINDS[@]}"; do printf '%s | ' "${cell[$t/$k]:--}"; done; done)
"
	unset cell
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

declare -A MED=() MIN=() MAX=()
for t in "${ALL[@]}"; do
	for k in "${KINDS[@]}"; do
		cl="$t/$k"
		[ -n "${TIMES[$cl]// /}" ] || { [ -n "${C_NOTE[$cl]:-}" ] || C_NOTE[$cl]="failed: ${T_NOTE[$t]:-no successful run}"; continue; }
		# shellcheck disable=SC2086
		read -r "MED[$cl]" "MIN[$cl]" "MAX[$cl]" <<<"$(stats ${TIMES[$cl]})"
		if [ "${C_FAIL[$cl]}" -gt 0 ]; then C_NOTE[$cl]="${C_FAIL[$cl]}/$ROUNDS rounds ${C_NOTE[$cl]}"; else C_NOTE[$cl]=''; fi
	done
done
stop_dockerd

# ---------------------------------------------------------------- report --
STAMP=$(date +%Y-%m-%d-%H%M%S)
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/build-$STAMP.md"
secs() { # µs -> "0.81 s" or "72 ms"
	awk -v n="$1" 'BEGIN { if (n >= 1000000) printf "%.2f s", n / 1e6; else printf "%.0f ms", n / 1000 }'
}
cell_text() {
	local cl=$1
	if [ -n "${MED[$cl]:-}" ]; then
		echo "$(secs "${MED[$cl]}") ($(secs "${MIN[$cl]}")–$(secs "${MAX[$cl]}"))"
	else
		echo "${C_NOTE[$cl]:-failed}" | tr '|' '/' | cut -c1-220
	fi
}
goal() { # goal KIND FACTOR TEXT
	local k=$1 f=$2 txt=$3 v
	if [ -n "${MED[hull/$k]:-}" ] && [ -n "${MED[docker/$k]:-}" ]; then
		if awk -v h="${MED[hull/$k]}" -v b="${MED[docker/$k]}" -v f="$f" 'BEGIN { exit !(h <= f * b) }'; then v="**met**"; else v="**not met**"; fi
		echo "- $txt: $v (hull $(secs "${MED[hull/$k]}"), BuildKit $(secs "${MED[docker/$k]}"), $(ratio "${MED[hull/$k]}" "${MED[docker/$k]}"))."
	elif ! want_tool docker; then
		echo "- $txt: **no reference** (docker is not in TOOLS)."
	elif [ -z "${MED[docker/$k]:-}" ]; then
		echo "- $txt: **no reference** (BuildKit: $(cell_text "docker/$k"))."
	else
		echo "- $txt: **pending** (hull: $(cell_text "hull/$k"))."
	fi
}
{
	echo "# Build benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo
	echo "One Dockerfile, two stages: \`FROM busybox AS build\`, \`COPY src/ /src/\` ($FILES files), two RUN steps;" \
		"then \`FROM busybox\`, \`COPY --from=build /out/ /app/\`, one RUN step, CMD. Context: $CTX_DESC." \
		"Base image \`$IMG\`: Debian's busybox-static (as in start.sh), one layer, loaded into each tool from a docker-archive."
	echo
	echo "Per tool and round, after an untimed wipe back to a store that holds only the base image and no build cache:" \
		"**cold** (the first build), **no-change** (the same build again), **one-change** (after appending a line to one of the $FILES source files," \
		"which invalidates the COPY and every step after it). $ROUNDS interleaved rounds (+$WARMUP untimed warm-up sequence per tool)," \
		"tool order rotated every round, a \`sync\` before each build; wall-clock time of the whole client command; median (min–max)."
	echo
	echo "| tool | cold | no-change | one-change | vs BuildKit: cold / no-change / one-change |"
	echo "|---|---:|---:|---:|---:|"
	for t in "${ALL[@]}"; do
		rs=()
		for k in "${KINDS[@]}"; do
			if [ -n "${MED[$t/$k]:-}" ] && [ -n "${MED[docker/$k]:-}" ]; then rs+=("$(ratio "${MED[$t/$k]}" "${MED[docker/$k]}")"); else rs+=("n/a"); fi
		done
		printf '| %s | %s | %s | %s | %s |\n' "$(label "$t")" "$(cell_text "$t/cold")" "$(cell_text "$t/nochange")" \
			"$(cell_text "$t/onechange")" "${rs[0]} / ${rs[1]} / ${rs[2]}"
	done
	echo
	echo "The ratios divide each tool's median by docker BuildKit's (below 1× means faster than BuildKit)."
	notes=''
	for t in "${ALL[@]}"; do
		[ -n "${IDCHK[$t/same]:-}" ] && notes+="- $(label "$t"): in ${IDCHK[$t/same]} round(s) the no-change rebuild gave another image ID than the cold build."$'\n'
		[ -n "${IDCHK[$t/new]:-}" ] && notes+="- $(label "$t"): in ${IDCHK[$t/new]} round(s) the one-change rebuild gave the same image ID as before the change."$'\n'
	done
	if [ -n "$notes" ]; then echo; echo "Checks (image IDs after each build):"; echo; printf '%s' "$notes"; fi
	if want_tool hull; then
		echo
		echo "Goals:"
		echo
		goal nochange 0.5 "hull's no-change rebuild ≤ half of BuildKit's"
		goal cold 1 "hull's cold build ≤ BuildKit's"
		goal onechange 1 "hull's one-change rebuild ≤ BuildKit's"
	fi
	echo
	echo "## Per-round milliseconds"
	echo
	printf '%s' "$RAW"
	echo
	echo "## Environment"
	echo
	echo "- host: $(host_desc)"
	echo "- load average (1/5/15 min) before the rounds: $LOAD_START; after them: $LOAD_END (above $(nproc) means other work competed for the CPUs)"
	echo "- namespaces: a private network and mount namespace for the whole run (\`unshare --net --mount\`), with its own sysfs and /run"
	echo "- hull: $(hull_desc "$HULL" "$HULL_SRC"), copied at the start of the run$([ -x "$HULL" ] && echo ", sha256 $(sha256sum "$HULL" | cut -c1-12)");" \
		"\`hull --root R --runroot RR build -t TAG CTX\`, a new store for each cold build"
	echo "- docker: $(ver dockerd --version), client $(ver "${DOCKER_CLI:-false}" --version); one private dockerd (overlay2, default bridge);" \
		"\`DOCKER_BUILDKIT=1 docker build -t TAG CTX\` (BuildKit in the daemon) and \`DOCKER_BUILDKIT=0\` (legacy builder);" \
		"the wipe: \`docker rmi -f\` of every image but the base, \`docker builder prune -af\`"
	echo "- buildah: $(ver buildah --version); \`buildah bud --layers${BH_RUNTIME:+ --runtime $BH_RUNTIME}${PODMAN_ULIMITS:+ $PODMAN_ULIMITS} -t TAG CTX\` (overlay);" \
		"the wipe: \`buildah rm -a\`, \`rmi -a -f\`, the base pulled again from the docker-archive"
	echo "- command: \`ROUNDS=$ROUNDS WARMUP=$WARMUP FILES=$FILES TOOLS=\"$TOOLS\" ./bench/build.sh\`"
} | tee "$OUT"
log "report written to $OUT"

#!/usr/bin/env bash
# Pull benchmark: hull pull vs podman pull, skopeo copy (into containers-storage
# and into an OCI dir, the no-unpack floor) and docker pull, all from a local
# registry, interleaved over several rounds. See bench/README.md.
#
#   sudo ./bench/pull.sh                 # ROUNDS=5
#   sudo ROUNDS=9 TOOLS="hull docker" ./bench/pull.sh
#
# The markdown report goes to stdout and bench/results/pull-<date>.md;
# progress goes to stderr.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
TOOLS=${TOOLS:-"hull podman skopeo-cs skopeo-oci docker"}
CACHE_DIR=${CACHE_DIR:-/var/cache/hull-bench}
PULL_TIMEOUT=${PULL_TIMEOUT:-600}
KEEP=${KEEP:-0}
SUITE=bookworm

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (sudo $0)"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
HULL=${HULL:-./bin/hull}
case "$HULL" in /*) ;; *) HULL="$REPO/${HULL#./}" ;; esac
export PATH="$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin"

# ---------------------------------------------------------------- packages --
ensure_packages() {
	local need=() pair cmd pkg
	for pair in podman:podman skopeo:skopeo dockerd:docker.io debootstrap:debootstrap \
		docker-registry:docker-registry curl:curl timeout:coreutils; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
	done
	[ -x /usr/bin/docker ] || command -v docker >/dev/null 2>&1 || need+=(docker.io)
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || log "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
		log "apt-get install failed; missing tools will be reported as skipped"
}

# Debian mirror configured for this machine (one-line or deb822 sources).
detect_mirror() {
	if [ -n "${MIRROR:-}" ]; then echo "$MIRROR"; return; fi
	local f m
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		m=$(awk -v s="$SUITE" '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit }
		}' "$f")
		[ -n "$m" ] && { echo "$m"; return; }
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		m=$(awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; uri = ""; suites = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				line = $i
				if (line ~ /^#/) continue
				k = tolower(line); sub(/:.*/, "", k)
				v = line; sub(/^[^:]*:[ \t]*/, "", v)
				if (k == "types") types = v
				else if (k == "uris") { split(v, u, /[ \t]+/); uri = u[1] }
				else if (k == "suites") suites = " " v " "
				else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled != "no" && (" " types " ") ~ / deb / && index(suites, " " s " ") && uri != "") { print uri; exit }
		}' "$f")
		[ -n "$m" ] && { echo "$m"; return; }
	done
	echo http://deb.debian.org/debian
}

umount_under() { # unmount $1 and everything mounted below it, deepest first
	local d=${1%/}
	awk -v d="$d" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

ensure_rootfs() {
	ROOTFS="$CACHE_DIR/rootfs-$SUITE-minbase"
	if [ -d "$ROOTFS/usr/bin" ]; then
		log "rootfs: cached $ROOTFS"
		return
	fi
	local mirror tmp="$ROOTFS.tmp"
	mirror=$(detect_mirror)
	log "rootfs: debootstrap --variant=minbase $SUITE from $mirror (cached in $CACHE_DIR)"
	mkdir -p "$CACHE_DIR"
	umount_under "$tmp"
	rm -rf "$tmp"
	if ! debootstrap --variant=minbase "$SUITE" "$tmp" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1; then
		umount_under "$tmp"
		tail -20 "$CACHE_DIR/debootstrap.log" >&2
		die "debootstrap failed (log: $CACHE_DIR/debootstrap.log)"
	fi
	umount_under "$tmp"
	mv "$tmp" "$ROOTFS"
}

# ------------------------------------------------------------------ set-up --
ensure_packages
command -v go >/dev/null 2>&1 || die "go not found in PATH"

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/hull-bench.XXXXXX")
chmod 755 "$WORK"
REG_PID='' DOCKERD_PID=''
cleanup() {
	set +e
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		kill -TERM "$DOCKERD_PID"
		for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$DOCKERD_PID" 2>/dev/null
		wait "$DOCKERD_PID" 2>/dev/null
	fi
	if [ -n "$REG_PID" ]; then kill -TERM "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null; fi
	umount_under "$WORK"
	if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -x "$HULL" ] && [ "$HULL" = "$REPO/bin/hull" ]; then
	log "building hull: CGO_ENABLED=0 go build -o bin/hull ./cmd/hull"
	CGO_ENABLED=0 go build -o bin/hull ./cmd/hull >"$WORK/hull-build.log" 2>&1 ||
		{ log "hull build failed (see below); hull will be reported as failed"; tail -5 "$WORK/hull-build.log" >&2; }
fi

log "building bench/mkimage"
if ! go build -o "$WORK/mkimage" ./bench/mkimage >"$WORK/mkimage-build.log" 2>&1; then
	# go.mod may lag behind the image builder's imports; resolve them in a
	# private copy of go.mod/go.sum so the work tree is left untouched.
	cp go.mod "$WORK/go.mod"; cp go.sum "$WORK/go.sum" 2>/dev/null || true
	go build -mod=mod -modfile="$WORK/go.mod" -o "$WORK/mkimage" ./bench/mkimage >>"$WORK/mkimage-build.log" 2>&1 ||
		{ cat "$WORK/mkimage-build.log" >&2; die "cannot build bench/mkimage"; }
fi

ensure_rootfs

# Registry (distribution 2.8) on a free loopback port.
start_registry() {
	local port
	mkdir -p "$WORK/registry/data"
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue # in use
		cat >"$WORK/registry/config.yml" <<-EOF
			version: 0.1
			log:
			  level: warn
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $WORK/registry/data
			  cache:
			    blobdescriptor: inmemory
			  delete:
			    enabled: true
			http:
			  addr: 127.0.0.1:$port
		EOF
		/usr/bin/docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &
		REG_PID=$!
		for _ in $(seq 1 50); do
			if curl -fsS -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null; then
				PORT=$port
				return 0
			fi
			kill -0 "$REG_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null || true
		REG_PID=
	done
	cat "$WORK/registry/log" >&2
	die "could not start docker-registry"
}
command -v docker-registry >/dev/null 2>&1 || die "docker-registry not installed"
start_registry
REF="127.0.0.1:$PORT/bench/debian:latest"
log "registry: http://127.0.0.1:$PORT (pid $REG_PID)"

log "building and pushing $REF"
IMGINFO=$("$WORK/mkimage" -rootfs "$ROOTFS" -out "$WORK/layers" -ref "$REF" 2>"$WORK/mkimage.log") ||
	{ cat "$WORK/mkimage.log" >&2; die "mkimage failed"; }
cat "$WORK/mkimage.log" >&2
eval "$IMGINFO" # MANIFEST_DIGEST COMPRESSED_BYTES UNPACKED_BYTES TAR_BYTES LAYERS FILES
rm -rf "$WORK/layers"

# ------------------------------------------------------------------- tools --
DOCKER_CLI=${DOCKER_CLI:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker || true)}
DOCKER_CONFIG="$WORK/docker-cli" # private client config, for the docker CLI only
DSOCK="unix://$WORK/docker/docker.sock"
PODMAN_ROOT="$WORK/podman/root" PODMAN_RUN="$WORK/podman/run"
SKCS_ROOT="$WORK/skopeo-cs/root" SKCS_RUN="$WORK/skopeo-cs/run"

# Each tool has: setup_T (once; non-zero = skipped), clear_T (empty its store),
# cmd_T (sets CMD to the timed command), store_T (path whose size is reported).
podman_cmd() { # podman_cmd ROOT RUNROOT ARGS... -> CMD
	local r=$1 rr=$2; shift 2
	CMD=(podman --root "$r" --runroot "$rr" --tmpdir "$rr/libpod-tmp" --storage-driver overlay
		--cgroup-manager cgroupfs --events-backend file "$@")
}
podman_in() { podman_cmd "$@"; "${CMD[@]}"; }

setup_hull() { [ -x "$HULL" ] || { SKIP_REASON="no hull binary at $HULL"; return 1; }; }
clear_hull() { umount_under "$WORK/hull"; rm -rf "$WORK/hull"; }
cmd_hull() { CMD=("$HULL" --root "$WORK/hull" pull "$REF"); }
store_hull() { echo "$WORK/hull"; }

setup_podman() { command -v podman >/dev/null || { SKIP_REASON="podman not installed"; return 1; }; mkdir -p "$PODMAN_ROOT" "$PODMAN_RUN"; }
clear_podman() {
	podman_in "$PODMAN_ROOT" "$PODMAN_RUN" rmi -a -f >/dev/null 2>&1 || true
	[ -z "$(podman_in "$PODMAN_ROOT" "$PODMAN_RUN" images -q 2>/dev/null)" ]
}
cmd_podman() { podman_cmd "$PODMAN_ROOT" "$PODMAN_RUN" pull --tls-verify=false "$REF"; }
store_podman() { echo "$PODMAN_ROOT"; }

setup_skopeo-cs() { command -v skopeo >/dev/null || { SKIP_REASON="skopeo not installed"; return 1; }; mkdir -p "$SKCS_ROOT" "$SKCS_RUN"; }
clear_skopeo-cs() {
	if command -v podman >/dev/null; then
		podman_in "$SKCS_ROOT" "$SKCS_RUN" rmi -a -f >/dev/null 2>&1 || true
		[ -z "$(podman_in "$SKCS_ROOT" "$SKCS_RUN" images -q 2>/dev/null)" ]
	else
		umount_under "$SKCS_ROOT"; rm -rf "$SKCS_ROOT" "$SKCS_RUN"; mkdir -p "$SKCS_ROOT" "$SKCS_RUN"
	fi
}
cmd_skopeo-cs() {
	CMD=(skopeo copy --src-tls-verify=false "docker://$REF"
		"containers-storage:[overlay@$SKCS_ROOT+$SKCS_RUN]bench/debian:latest")
}
store_skopeo-cs() { echo "$SKCS_ROOT"; }

setup_skopeo-oci() { command -v skopeo >/dev/null || { SKIP_REASON="skopeo not installed"; return 1; }; }
clear_skopeo-oci() { rm -rf "$WORK/oci"; }
cmd_skopeo-oci() { CMD=(skopeo copy --src-tls-verify=false "docker://$REF" "oci:$WORK/oci:latest"); }
store_skopeo-oci() { echo "$WORK/oci"; }

dk() { DOCKER_CONFIG=$DOCKER_CONFIG "$DOCKER_CLI" -H "$DSOCK" "$@"; }
setup_docker() {
	command -v dockerd >/dev/null || { SKIP_REASON="dockerd not installed"; return 1; }
	[ -n "$DOCKER_CLI" ] || { SKIP_REASON="docker CLI not installed"; return 1; }
	local d="$WORK/docker"
	mkdir -p "$d/data" "$d/exec" "$DOCKER_CONFIG"
	echo '{}' >"$d/daemon.json"
	dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
		-H "$DSOCK" --pidfile "$d/dockerd.pid" --bridge=none --iptables=false \
		--ip-forward=false --ip-masq=false --userland-proxy=false \
		--storage-driver overlay2 --insecure-registry "127.0.0.1:$PORT" \
		--log-level warn >"$d/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 1 150); do
		dk version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.2
	done
	SKIP_REASON="dockerd did not start: $(tail -3 "$d/dockerd.log" | tr '\n' ' ')"
	return 1
}
clear_docker() {
	dk rmi -f "$REF" >/dev/null 2>&1 || true
	dk image prune -a -f >/dev/null 2>&1 || true
	[ -z "$(dk images -q 2>/dev/null)" ]
}
cmd_docker() { CMD=(env "DOCKER_CONFIG=$DOCKER_CONFIG" "$DOCKER_CLI" -H "$DSOCK" pull "$REF"); }
store_docker() { echo "$WORK/docker/data"; }

label() {
	case $1 in
	hull) echo "hull pull" ;;
	podman) echo "podman pull" ;;
	skopeo-cs) echo "skopeo copy → containers-storage" ;;
	skopeo-oci) echo "skopeo copy → oci dir (no unpack)" ;;
	docker) echo "docker pull" ;;
	*) echo "$1" ;;
	esac
}

read -r -a ALL <<<"$TOOLS"
declare -A STATUS NOTE TIMES NFAIL STORE
ACTIVE=()
for t in "${ALL[@]}"; do
	declare -F "cmd_$t" >/dev/null || die "unknown tool '$t' (known: hull podman skopeo-cs skopeo-oci docker)"
	SKIP_REASON=
	if "setup_$t" >"$WORK/setup-$t.log" 2>&1; then
		STATUS[$t]=ok ACTIVE+=("$t")
	elif [ "$t" = hull ]; then
		STATUS[$t]=failed NOTE[$t]=$SKIP_REASON
	else
		STATUS[$t]=skipped NOTE[$t]=$SKIP_REASON
	fi
	TIMES[$t]='' NFAIL[$t]=0
	[ "${STATUS[$t]}" = ok ] || log "$t: ${STATUS[$t]} (${NOTE[$t]})"
done

now() { date +%s%N; }

# run_one TOOL ROUNDLABEL -> sets LAST_NS (empty on failure)
run_one() {
	local t=$1 r=$2 lg="$WORK/logs/$1.$2.log" t0 t1 rc=0
	LAST_NS=
	mkdir -p "$WORK/logs"
	if ! "clear_$t" >"$lg" 2>&1; then
		log "$t round $r: could not clear store"; echo "clear failed" >>"$lg"
		return 1
	fi
	"cmd_$t"
	echo "+ ${CMD[*]}" >>"$lg"
	sync
	t0=$(now)
	timeout "$PULL_TIMEOUT" "${CMD[@]}" >>"$lg" 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" != 0 ]; then
		log "$t round $r: FAILED (exit $rc): $(tail -2 "$lg" | tr '\n' ' ' | cut -c1-300)"
		return 1
	fi
	LAST_NS=$((t1 - t0))
	STORE[$t]=$(du -sb "$("store_$t")" 2>/dev/null | cut -f1)
	sync
	return 0
}

fmt_s() { awk -v n="$1" 'BEGIN { printf "%.3f", n / 1e9 }'; }

if [ "$WARMUP" -gt 0 ] && [ ${#ACTIVE[@]} -gt 0 ]; then
	log "warm-up round (untimed): ${ACTIVE[*]}"
	for t in "${ACTIVE[@]}"; do
		if run_one "$t" warmup; then
			log "  $t warm-up $(fmt_s "$LAST_NS") s"
		elif [ "$t" != hull ]; then
			STATUS[$t]=skipped NOTE[$t]="failed in warm-up: $(tail -1 "$WORK/logs/$t.warmup.log" | cut -c1-160)"
		fi
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
	log "round $((r + 1))/$ROUNDS: ${order[*]}"
	declare -A cell=()
	for t in "${order[@]}"; do
		if run_one "$t" "$((r + 1))"; then
			TIMES[$t]+="$LAST_NS "
			cell[$t]=$(fmt_s "$LAST_NS")
			log "  $t $(fmt_s "$LAST_NS") s"
		else
			NFAIL[$t]=$((NFAIL[$t] + 1))
			cell[$t]=failed
		fi
	done
	RAW+="| $((r + 1)) | ${order[*]} | $(for t in "${ALL[@]}"; do printf '%s | ' "${cell[$t]:--}"; done)
"
	unset cell
done

# ------------------------------------------------------------------ report --
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
# stats NS... -> "median min max" in ns
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f %.0f %.0f\n", m, v[1], v[NR] }'; }
declare -A MED MIN MAX
for t in "${ALL[@]}"; do
	[ "${STATUS[$t]}" = ok ] || continue
	# shellcheck disable=SC2086
	if [ -z "${TIMES[$t]// /}" ]; then
		STATUS[$t]=failed
		NOTE[$t]="failed in all $ROUNDS rounds: $(grep -v '^+ ' "$WORK/logs/$t.$ROUNDS.log" | tail -1 | cut -c1-200 | tr '|' '/')"
		continue
	fi
	# shellcheck disable=SC2086
	read -r MED[$t] MIN[$t] MAX[$t] <<<"$(stats ${TIMES[$t]})"
	[ "${NFAIL[$t]}" -gt 0 ] && NOTE[$t]="${NFAIL[$t]}/$ROUNDS rounds failed"
	if [ "$t" != skopeo-oci ] && [ -n "${STORE[$t]:-}" ] && [ "${STORE[$t]}" -lt $((UNPACKED_BYTES / 2)) ]; then
		NOTE[$t]="${NOTE[$t]:+${NOTE[$t]}; }store is smaller than half the unpacked image"
	fi
done

# Fastest peer: the quickest of the engines that unpack (the OCI-dir copy is a
# floor, not a peer).
BEST='' BEST_T=''
for t in podman skopeo-cs docker; do
	[ -n "${MED[$t]:-}" ] || continue
	if [ -z "$BEST" ] || [ "${MED[$t]}" -lt "$BEST" ]; then BEST=${MED[$t]} BEST_T=$t; fi
done
ratio() { [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }' || echo n/a; }

mib() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1048576 }'; }
ver() { "$@" 2>/dev/null | head -1 || echo unknown; }
hull_rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -1)" ] && hull_rev+=" (dirty tree)"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
STAMP=$(date +%Y-%m-%d-%H%M%S)
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/pull-$STAMP.md"

{
	echo "# Pull benchmark $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo
	echo "Image \`bench/debian:latest\` (debootstrap --variant=minbase $SUITE): $LAYERS gzip layers," \
		"$(mib "$COMPRESSED_BYTES") MiB compressed, $(mib "$UNPACKED_BYTES") MiB unpacked, $FILES entries," \
		"manifest \`$MANIFEST_DIGEST\`; served by docker-registry on 127.0.0.1."
	echo "$ROUNDS timed rounds (+$WARMUP untimed warm-up), tools in rotated order, page cache warm, \`sync\` between runs."
	echo
	echo "| tool | median s | min s | max s | vs hull | vs fastest peer | store MiB | notes |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	for t in "${ALL[@]}"; do
		if [ -n "${MED[$t]:-}" ]; then
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$t")" \
				"$(fmt_s "${MED[$t]}")" "$(fmt_s "${MIN[$t]}")" "$(fmt_s "${MAX[$t]}")" \
				"$(ratio "${MED[$t]}" "${MED[hull]:-}")" "$(ratio "${MED[$t]}" "$BEST")" \
				"$(mib "${STORE[$t]:-0}")" "${NOTE[$t]:-}"
		else
			printf '| %s | %s | | | | | | %s |\n' "$(label "$t")" "${STATUS[$t]}" "${NOTE[$t]:-}"
		fi
	done
	echo
	if [ -n "$BEST_T" ]; then
		echo "Fastest peer: $(label "$BEST_T"), median $(fmt_s "$BEST") s."
		if [ -n "${MED[hull]:-}" ]; then
			echo "hull / fastest peer = $(ratio "${MED[hull]}" "$BEST") (below 1 means hull is faster)."
		fi
		echo
	fi
	echo "Ratios are medians divided by the hull median (\"vs hull\") or by the fastest unpacking peer's median;"
	echo "the OCI-dir copy downloads and verifies the blobs without unpacking them, so it is a floor, not a peer."
	echo
	echo "## Per-round seconds"
	echo
	printf '%s' "$RAW"
	echo
	echo "## Environment"
	echo
	echo "- host: $(uname -srm), $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "- load average (1/5/15 min) before the timed rounds: $LOAD_START; after: $LOAD_END" \
		"(above $(nproc) means other work competed for the CPUs and the numbers are noisier)"
	echo "- hull: \`$HULL\` (binary from $(date -r "$HULL" '+%Y-%m-%d %H:%M' 2>/dev/null || echo -)), tree at $hull_rev"
	echo "- podman: $(ver podman --version); skopeo: $(ver skopeo --version)"
	echo "- dockerd: $(ver dockerd --version) (overlay2, client $(ver "${DOCKER_CLI:-false}" --version))"
	echo "- registry: $(ver docker-registry --version)"
	echo "- command: \`ROUNDS=$ROUNDS TOOLS=\"$TOOLS\" ./bench/pull.sh\`"
} | tee "$OUT"
log "report written to $OUT"

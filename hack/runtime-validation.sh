#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite against Debian's runc (the
# baseline) and against hull's own OCI runtime (`hull runtime ...`), and
# compares them assertion by assertion. Run it as root:
#
#   sudo ./hack/runtime-validation.sh [flags]      (or: sudo make validate-runtime)
#
# Flags:
#   --report-only       exit 0 even when hull fails assertions that runc passes
#   --timeout SECS      per-test timeout (default 60; env TEST_TIMEOUT)
#   --tests REGEX       run only the tests whose name matches REGEX (grep -E),
#                       e.g. --tests '^(kill|state|start)$'
#   --reuse-baseline    reuse the last runc results for this suite version and
#                       runc version instead of running runc again
#   --hull BIN          test this hull binary instead of building bin/hull
#   --out DIR           results directory (default $CACHE/results/<UTC time>)
#   --rebuild           rebuild the suite even if it is cached
#
# Environment: HULL_VALIDATION_CACHE (default /var/cache/hull-validation),
# RUNTIME_TOOLS_VERSION (the runtime-tools pseudo-version to test with).
#
# The suite (github.com/opencontainers/runtime-tools, pinned below) is fetched
# with `go mod download`, copied to $CACHE/runtime-tools-<version>/ without its
# vendor/ directory and built there with `make runtimetest
# validation-executables`; the build is cached by pseudo-version. Each
# validation/<name>/<name>.t is a TAP producer: it is run from the suite's
# directory (it needs rootfs-amd64.tar.gz and runtimetest from there) with
# RUNTIME set to a wrapper script that runs the runtime with a private --root,
# under a per-test timeout, with its bundles in a private TMPDIR. After each
# test the harness force-deletes containers left in that --root, unmounts and
# removes what the test left in TMPDIR; after each runtime it removes the
# (empty) cgroups the suite created.
#
# Results go to the results directory (and $CACHE/results/latest):
#   <runtime>/tests.tsv       per test: status, exit code, plan, ok, not ok, skipped, seconds
#                             (status: pass, fail, error, timeout, empty = planned 0)
#   <runtime>/assertions.tsv  per assertion: test, number, ok|not ok, skip, description
#   <runtime>/results.txt     per test, with the numbers of the failing assertions
#   <runtime>/logs/           each test's TAP stream (.tap) and stderr (.err)
#   summary.txt               the table, the per-test comparison and the gap list
#   gap.tsv                   assertions runc passes and hull fails (the gap to close)
#
# Exit status: 0 when hull passes every assertion runc passes (or with
# --report-only), 1 when it does not, 2 when the harness itself cannot run
# (not root, suite build failure, bad flags).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="/usr/local/go/bin:$PATH"
export LC_ALL=C

RT_MODULE=github.com/opencontainers/runtime-tools
RT_VERSION=${RUNTIME_TOOLS_VERSION:-v0.9.1-0.20251114084447-edf4cb3d2116}
CACHE=${HULL_VALIDATION_CACHE:-/var/cache/hull-validation}
TIMEOUT=${TEST_TIMEOUT:-60}
REPORT_ONLY=0
TESTS_RE=
REUSE_BASELINE=0
HULL_BIN=
OUT=
REBUILD=0

die() { echo "runtime-validation: $*" >&2; exit 2; }
log() { printf 'runtime-validation: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

while (($#)); do
	case $1 in
	--report-only) REPORT_ONLY=1 ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift ;;
	--timeout=*) TIMEOUT=${1#*=} ;;
	--tests) TESTS_RE=${2:?--tests needs a regex}; shift ;;
	--tests=*) TESTS_RE=${1#*=} ;;
	--reuse-baseline) REUSE_BASELINE=1 ;;
	--hull) HULL_BIN=${2:?--hull needs a path}; shift ;;
	--hull=*) HULL_BIN=${1#*=} ;;
	--out) OUT=${2:?--out needs a directory}; shift ;;
	--out=*) OUT=${1#*=} ;;
	--rebuild) REBUILD=1 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown flag $1" ;;
	esac
	shift
done
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds"
[[ $(id -u) == 0 ]] || die "run as root (sudo $0): the suite creates containers, cgroups and mounts"
[[ $(uname -s) == Linux ]] || die "Linux only"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- prerequisites

ensure_packages() {
	local missing=() p
	for p in runc make tar coreutils; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return
	log "installing ${missing[*]}"
	local apt=(apt-get -q -y -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confold)
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" update </dev/null >&2
	DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" </dev/null >&2
}
ensure_packages
command -v go >/dev/null || die "no go in PATH or /usr/local/go/bin"
RUNC=$(command -v runc) || die "runc not found after installing it"

# ---------------------------------------------------------------- the suite

SUITE=$CACHE/runtime-tools-$RT_VERSION
mkdir -p "$CACHE"

suite_complete() {
	[[ -f $SUITE/.hull-build-info && -x $SUITE/runtimetest && -f $SUITE/rootfs-amd64.tar.gz ]] || return 1
	local src
	for src in "$SUITE"/validation/*/*.go; do
		[[ $src == */util/* ]] && continue
		[[ -x ${src%.go}.t ]] || return 1
	done
}

build_suite() {
	local dir tmp start
	start=$(now)
	log "fetching $RT_MODULE@$RT_VERSION"
	# Outside any module, so that neither hull's go.mod nor a go.work is involved.
	dir=$(cd "$CACHE" && env GOFLAGS= GOWORK=off go mod download -json "$RT_MODULE@$RT_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $RT_MODULE@$RT_VERSION gave no directory"
	tmp=$(mktemp -d "$CACHE/.build-XXXXXX")
	cp -a "$dir/." "$tmp/"
	chmod -R u+w "$tmp"
	rm -rf "$tmp/vendor"
	log "building the suite in $tmp"
	# The module cache copy has no .git and no vendor/: build in module mode
	# from the proxy. GOFLAGS from the caller (e.g. -mod=vendor) must not leak in.
	local env=(env GOFLAGS=-buildvcs=false GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=1)
	if ! (cd "$tmp" && "${env[@]}" make -j"$(nproc)" runtimetest validation-executables) >"$tmp/.build.log" 2>&1; then
		log "plain build failed; retrying after go mod tidy with -mod=mod (log: $tmp/.build.log)"
		(cd "$tmp" && "${env[@]}" go mod tidy && env=(env GOFLAGS="-buildvcs=false -mod=mod" GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=1) &&
			"${env[@]}" make -j"$(nproc)" runtimetest validation-executables) >>"$tmp/.build.log" 2>&1 ||
			{ tail -30 "$tmp/.build.log" >&2; die "suite build failed; see $tmp/.build.log"; }
	fi
	printf 'version=%s\ngo=%s\nbuilt=%s\nbuild_seconds=%s\n' "$RT_VERSION" "$(go env GOVERSION)" \
		"$(date -u +%FT%TZ)" "$(secs "$start" "$(now)")" >"$tmp/.hull-build-info"
	rm -rf "$SUITE"
	mv "$tmp" "$SUITE"
}

if ((REBUILD)) || ! suite_complete; then
	build_suite
	log "suite built in $(sed -n 's/^build_seconds=//p' "$SUITE/.hull-build-info") s"
else
	log "suite cached in $SUITE (built $(sed -n 's/^built=//p' "$SUITE/.hull-build-info"))"
fi
SUITE_BUILD_SECONDS=$(sed -n 's/^build_seconds=//p' "$SUITE/.hull-build-info")

mapfile -t TESTS < <(cd "$SUITE/validation" && for f in */*.t; do
	n=${f%%/*}
	[[ $f == "$n/$n.t" ]] && echo "$n"
done | sort)
if [[ -n $TESTS_RE ]]; then
	mapfile -t TESTS < <(printf '%s\n' "${TESTS[@]}" | grep -E -- "$TESTS_RE" || true)
fi
((${#TESTS[@]})) || die "no test matches '$TESTS_RE'"

# ---------------------------------------------------------------- results dir

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DEFAULT_OUT=0
[[ -n $OUT ]] || { OUT=$CACHE/results/$STAMP; DEFAULT_OUT=1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Bundles, wrappers and the runtimes' state live in a private directory under
# /tmp. It must be world-searchable (0755): tests with a user namespace run
# the container's root as a mapped uid that has to reach the bundle.
WORK=$(mktemp -d /tmp/hull-validation.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf --one-file-system "$WORK" 2>/dev/null || true' EXIT

# ---------------------------------------------------------------- cleanup helpers

# The suite's cgroups: /cgrouptest (absolute) and testdir/cgrouptest/container
# (relative to the runtime's own cgroup).
suite_cgroups() {
	find /sys/fs/cgroup -maxdepth 7 -type d \( -name testdir -o -name cgrouptest \) -prune -print 2>/dev/null | sort
}
CGROUPS_BEFORE=$(suite_cgroups)

remove_new_cgroups() {
	local d
	while read -r d; do
		[[ -n $d ]] || continue
		grep -qxF -- "$d" <<<"$CGROUPS_BEFORE" && continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		if [[ -d $d ]]; then echo "cgroup $d could not be removed (processes left in it?)"; fi
	done < <(suite_cgroups)
	return 0
}

# After each test: force-delete what is left in the runtime's private --root
# (killing the recorded init pid if the runtime cannot), unmount what the test
# left mounted in its TMPDIR, and empty the TMPDIR. Prints what it had to clean.
cleanup_after_test() {
	local wrapper=$1 state=$2 tmp=$3 id pid m d
	for d in "$state"/*/ "$state"/.[!.]*/; do
		[[ -d $d ]] || continue
		id=$(basename "$d")
		echo "container $id left in the runtime root"
		pid=$(timeout 10 "$wrapper" state "$id" 2>/dev/null | sed -n 's/.*"pid":[[:space:]]*\([0-9]*\).*/\1/p' | head -1) || true
		timeout 20 "$wrapper" delete --force "$id" >/dev/null 2>&1 || true
		if [[ -d $state/$id ]]; then
			if [[ -n $pid && $pid != 0 && -d /proc/$pid ]]; then
				echo "  delete --force failed: killing its init pid $pid"
				kill -KILL "$pid" 2>/dev/null || true
				sleep 0.2
				timeout 20 "$wrapper" delete --force "$id" >/dev/null 2>&1 || true
			fi
			rm -rf --one-file-system "${state:?}/$id" 2>/dev/null || true
		fi
		# Its cgroups (named by the container id, a UUID the test made up).
		while read -r m; do
			find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		done < <(find /sys/fs/cgroup -maxdepth 6 -type d -name "$id" -prune 2>/dev/null)
	done
	mapfile -t m < <(awk -v p="$tmp/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	if ((${#m[@]})); then
		echo "${#m[@]} mounts left under the test's TMPDIR (propagated to the host)"
		for id in "${m[@]}"; do umount -l "$id" 2>/dev/null || true; done
	fi
	find "$tmp" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + 2>/dev/null || true
}

# ---------------------------------------------------------------- running

parse_tap() { # test file.tap -> assertions on stdout; "plan" to fd 3
	awk -v t="$1" '
	# Some tests print two TAP documents (a second "1..0" at the end): add the plans.
	/^1\.\.[0-9]+/ { p = $0; sub(/^1\.\./, "", p); sub(/[^0-9].*/, "", p); plan += p; planned = 1 }
	/^(not )?ok([ \t]|$)/ {
		line = $0; res = "ok"
		if (line ~ /^not ok/) { res = "not ok"; sub(/^not ok[ \t]*/, "", line) } else sub(/^ok[ \t]*/, "", line)
		num = ""; if (match(line, /^[0-9]+/)) { num = substr(line, 1, RLENGTH); line = substr(line, RLENGTH + 1) }
		sub(/^[ \t]*(-[ \t]*)?/, "", line)
		skip = (line ~ /(^|[ \t])#[ \t]*[Ss][Kk][Ii][Pp]/) ? 1 : 0
		gsub(/\t/, " ", line)
		print t "\t" num "\t" res "\t" skip "\t" line
	}
	END { print (planned ? plan : "-") > "/dev/fd/3" }' "$2"
}

# run_suite NAME WRAPPER STATE: runs every test, writes $OUT/NAME/.
run_suite() {
	local name=$1 wrapper=$2 state=$3 dir=$OUT/$1 tmp=$WORK/tmp-$1 t start rc secs plan ok nok skip status total_start
	mkdir -p "$dir/logs" "$tmp" "$state"
	: >"$dir/assertions.tsv"
	printf 'test\tstatus\texit\tplan\tok\tnot_ok\tskipped\tseconds\n' >"$dir/tests.tsv"
	: >"$dir/cleanup.txt"
	total_start=$(now)
	for t in "${TESTS[@]}"; do
		start=$(now)
		rc=0
		(cd "$SUITE" && exec env RUNTIME="$wrapper" TMPDIR="$tmp" \
			timeout --kill-after=10 "$TIMEOUT" "./validation/$t/$t.t") \
			>"$dir/logs/$t.tap" 2>"$dir/logs/$t.err" </dev/null || rc=$?
		secs=$(secs "$start" "$(now)")
		plan=$(parse_tap "$t" "$dir/logs/$t.tap" 3>&1 >>"$dir/assertions.tsv")
		read -r ok nok skip < <(awk -F'\t' -v t="$t" '$1 == t { if ($3 == "ok") { o++; if ($4) s++ } else n++ }
			END { print o + 0, n + 0, s + 0 }' "$dir/assertions.tsv")
		if ((rc == 124 || rc == 137)); then status=timeout
		elif ((rc != 0)); then status=error
		elif [[ $plan == - ]]; then status=error
		elif [[ $plan == 0 ]] && ((ok + nok == 0)); then status=empty
		elif ((ok + nok != plan)); then status=error
		elif ((nok)); then status=fail
		else status=pass
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$status" "$rc" "$plan" "$((ok - skip))" "$nok" "$skip" "$secs" >>"$dir/tests.tsv"
		printf '  %-8s %-32s %-7s ok %-4s not ok %-3s skip %-3s %6ss\n' "$name" "$t" "$status" "$((ok - skip))" "$nok" "$skip" "$secs" >&2
		cleanup_after_test "$wrapper" "$state" "$tmp" | sed "s|^|$t: |" >>"$dir/cleanup.txt"
	done
	remove_new_cgroups >>"$dir/cleanup.txt"
	secs "$total_start" "$(now)" >"$dir/seconds"
	# results.txt: per test, with the numbers of the failing assertions.
	awk -F'\t' 'FILENAME == ARGV[1] { if ($3 == "not ok") fails[$1] = fails[$1] (fails[$1] == "" ? "" : " ") $2; next }
		FNR == 1 { printf "%-34s %-7s %4s %5s %6s %6s %7s %7s  %s\n", "test", "status", "exit", "plan", "ok", "not_ok", "skipped", "seconds", "failing assertions"; next }
		{ printf "%-34s %-7s %4s %5s %6s %6s %7s %7s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, fails[$1] }' \
		"$dir/assertions.tsv" "$dir/tests.tsv" >"$dir/results.txt"
	[[ -s $dir/cleanup.txt ]] && log "$name: the harness had to clean up after some tests, see $dir/cleanup.txt"
	return 0
}

make_wrapper() { # path state-root command...
	local path=$1 state=$2
	shift 2
	{
		echo '#!/bin/sh'
		printf 'exec'
		printf ' %q' "$@"
		printf ' --root %q "$@"\n' "$state"
	} >"$path"
	chmod +x "$path"
}

RUNC_VERSION=$("$RUNC" --version | head -1)
BASELINE_CACHE=$CACHE/baseline/$RT_VERSION/${RUNC_VERSION//[^A-Za-z0-9.+_-]/_}
mkdir -p "$WORK/bin"

# runc (baseline)
if ((REUSE_BASELINE)) && [[ -f $BASELINE_CACHE/tests.tsv ]]; then
	log "reusing the runc baseline from $BASELINE_CACHE"
	mkdir -p "$OUT/runc"
	cp -a "$BASELINE_CACHE/." "$OUT/runc/"
	# keep only the selected tests
	sel=$(printf '%s\n' "${TESTS[@]}")
	awk -F'\t' 'FILENAME == ARGV[1] { s[$1]; next } ($1 in s)' <(echo "$sel") "$BASELINE_CACHE/assertions.tsv" >"$OUT/runc/assertions.tsv"
	awk -F'\t' 'FILENAME == ARGV[1] { s[$1]; next } FNR == 1 || ($1 in s)' <(echo "$sel") "$BASELINE_CACHE/tests.tsv" >"$OUT/runc/tests.tsv"
	awk -F'\t' 'FNR > 1 { s += $8 } END { printf "%.1f\n", s }' "$OUT/runc/tests.tsv" >"$OUT/runc/seconds"
else
	log "running ${#TESTS[@]} tests against $RUNC_VERSION ($RUNC), ${TIMEOUT}s timeout each"
	make_wrapper "$WORK/bin/runc" "$WORK/state-runc" "$RUNC"
	run_suite runc "$WORK/bin/runc" "$WORK/state-runc"
	if [[ -z $TESTS_RE ]]; then
		rm -rf "$BASELINE_CACHE" && mkdir -p "$BASELINE_CACHE" && cp -a "$OUT/runc/." "$BASELINE_CACHE/"
	fi
fi

# hull
HULL_NOTE=
HULL_BUILD_SECONDS=-
if [[ -z $HULL_BIN ]]; then
	HULL_BIN=$REPO/bin/hull
	log "building hull (CGO_ENABLED=0 go build -o bin/hull ./cmd/hull)"
	start=$(now)
	if ! CGO_ENABLED=0 go build -o "$HULL_BIN" ./cmd/hull >"$OUT/hull-build.log" 2>&1; then
		HULL_NOTE="hull did not build (see $OUT/hull-build.log)"
		cat "$OUT/hull-build.log" >&2
	fi
	HULL_BUILD_SECONDS=$(secs "$start" "$(now)")
fi
HULL_BIN=$(readlink -f "$HULL_BIN" 2>/dev/null || echo "$HULL_BIN")
if [[ -z $HULL_NOTE ]]; then
	if [[ ! -x $HULL_BIN ]]; then
		HULL_NOTE="no hull binary at $HULL_BIN"
	elif ! probe=$(timeout 20 "$HULL_BIN" runtime --root "$WORK/probe" list 2>&1); then
		HULL_NOTE="'hull runtime' is not available in this build (\`hull runtime --root DIR list\` failed: $(head -1 <<<"$probe"))"
	fi
fi
mkdir -p "$OUT/hull/logs"
if [[ -n $HULL_NOTE ]]; then
	log "$HULL_NOTE: hull fails every test"
	printf 'test\tstatus\texit\tplan\tok\tnot_ok\tskipped\tseconds\n' >"$OUT/hull/tests.tsv"
	printf '%s\tnot-run\t-\t-\t0\t0\t0\t0\n' "${TESTS[@]}" >>"$OUT/hull/tests.tsv"
	: >"$OUT/hull/assertions.tsv"
	echo 0 >"$OUT/hull/seconds"
	echo "$HULL_NOTE" >"$OUT/hull/results.txt"
else
	log "running ${#TESTS[@]} tests against $HULL_BIN runtime, ${TIMEOUT}s timeout each"
	make_wrapper "$WORK/bin/hull-runtime" "$WORK/state-hull" "$HULL_BIN" runtime
	run_suite hull "$WORK/bin/hull-runtime" "$WORK/state-hull"
fi

# ---------------------------------------------------------------- report

# Assertions are matched by test and description, not by number: runtimetest
# numbers some of its checks in Go map order, so the same check gets another
# number from run to run. Repeated descriptions are matched by occurrence.
# gap.tsv: runc ok, hull not ok or missing.
# shellcheck disable=SC2016 # awk code
MATCH='function key(   d, n) { d = $1 SUBSEP $5; n = ++occ[FILENAME, d]; return d SUBSEP n }'
awk -F'\t' -v OFS='\t' "$MATCH"'
	FILENAME == ARGV[1] { st[$1] = $2; next }
	FILENAME == ARGV[2] { h[key()] = $3; next }
	{ k = key() }
	$3 == "ok" {
		if (!(k in h)) print $1, $2, "missing (test " st[$1] ")", $5
		else if (h[k] != "ok") print $1, $2, h[k], $5
	}' "$OUT/hull/tests.tsv" "$OUT/hull/assertions.tsv" "$OUT/runc/assertions.tsv" >"$OUT/gap.tsv"
# better.tsv: hull ok, runc not ok or missing.
awk -F'\t' -v OFS='\t' "$MATCH"'
	FILENAME == ARGV[1] { st[$1] = $2; next }
	FILENAME == ARGV[2] { r[key()] = $3; next }
	{ k = key() }
	$3 == "ok" {
		if (!(k in r)) print $1, $2, "missing (test " st[$1] ")", $5
		else if (r[k] != "ok") print $1, $2, r[k], $5
	}' "$OUT/runc/tests.tsv" "$OUT/runc/assertions.tsv" "$OUT/hull/assertions.tsv" >"$OUT/better.tsv"

row() { # name dir
	awk -F'\t' -v name="$1" -v secs="$(cat "$2/seconds" 2>/dev/null || echo -)" '
		FILENAME == ARGV[1] { if ($3 != "ok") nok++; else if ($4) sk++; else ok++; next }
		FNR > 1 { tests++; if ($2 != "pass" && $2 != "fail") bad++; if ($2 == "timeout") to++ }
		END { printf "%-8s %6d %7d %7d %8d %9d %9d %9s\n", name, tests, ok, nok, sk, bad, to, secs }' \
		"$2/assertions.tsv" "$2/tests.tsv"
}

# by_test FILE RUNTIME [errors]: per test, the count of FILE's assertions,
# the RUNTIME's status for that test and (with "errors") its first error.
by_test() {
	local t n st e
	for t in $(cut -f1 "$1" | uniq); do
		n=$(awk -F'\t' -v t="$t" '$1 == t' "$1" | wc -l)
		st=$(awk -F'\t' -v t="$t" '$1 == t { print $2 ", exit " $3 }' "$OUT/$2/tests.tsv")
		printf '  %-32s %4d  (%s: %s)\n' "$t" "$n" "$2" "$st"
		[[ ${3:-} == errors ]] || continue
		e=$(grep -vE '^(failed to (create|start|delete) the container|exit status [0-9]+)$' "$OUT/$2/logs/$t.err" 2>/dev/null |
			grep -m1 -iE 'error|fail|denied|not permitted|not supported|panic' ||
			grep -m1 -A8 '^not ok' "$OUT/$2/logs/$t.tap" 2>/dev/null | grep -m1 -E '"(error|actual)"' || true)
		if [[ -n $e ]]; then printf '  %-32s       %s\n' "" "$(cut -c1-170 <<<"${e#"${e%%[![:space:]]*}"}")"; fi
	done
}

GAP=$(wc -l <"$OUT/gap.tsv")
{
	echo "OCI runtime-tools validation ($RT_MODULE@$RT_VERSION), $(date -u +%FT%TZ), $(uname -r)"
	echo "suite: $SUITE (build: ${SUITE_BUILD_SECONDS}s); per-test timeout ${TIMEOUT}s"
	echo "runc:  $RUNC_VERSION ($RUNC)"
	if [[ $HULL_BUILD_SECONDS == - ]]; then b="given with --hull"; else b="build: ${HULL_BUILD_SECONDS}s"; fi
	echo "hull:  $HULL_BIN runtime${HULL_NOTE:+ -- $HULL_NOTE} ($b)"
	echo
	echo "Assertions are the TAP lines of each test: ok (passed), not ok, skipped ('ok # SKIP')."
	echo "'no result' counts the tests that exited non-zero, timed out, emitted fewer assertions"
	echo "than planned, or planned none (the hook tests print '1..0' and an error)."
	echo
	printf '%-8s %6s %7s %7s %8s %9s %9s %9s\n' runtime tests ok "not ok" skipped "no result" timeouts "time (s)"
	row runc "$OUT/runc"
	row hull "$OUT/hull"
	echo
	echo "Per test (status ok/not ok/skipped):"
	join -t$'\t' -a1 -a2 -e- -o 0,1.2,1.5,1.6,1.7,2.2,2.5,2.6,2.7 \
		<(tail -n +2 "$OUT/runc/tests.tsv" | sort -t$'\t' -k1,1) \
		<(tail -n +2 "$OUT/hull/tests.tsv" | sort -t$'\t' -k1,1) |
		awk -F'\t' 'FILENAME == ARGV[1] { g[$1]++; next }
			FNR == 1 { printf "  %-34s %-22s %-22s\n", "test", "runc", "hull" }
			{ printf "  %-34s %-22s %-22s%s\n", $1, $2 " " $3 "/" $4 "/" $5, $6 " " $7 "/" $8 "/" $9,
				($1 in g) ? "  <-- gap: " g[$1] : "" }' "$OUT/gap.tsv" -
	echo
	echo "Gap: $GAP assertions runc passes that hull fails, by test (with hull's first error):"
	by_test "$OUT/gap.tsv" hull errors
	if [[ -s $OUT/better.tsv ]]; then
		echo
		echo "Better: $(wc -l <"$OUT/better.tsv") assertions hull passes that runc fails or does not reach here, by test:"
		by_test "$OUT/better.tsv" runc
	fi
	echo
	echo "Gap, every assertion (test #n: hull's result: description):"
	awk -F'\t' '{ printf "  %s #%s: %s: %s\n", $1, $2, $3, $4 }' "$OUT/gap.tsv"
	if [[ -s $OUT/better.tsv ]]; then
		echo
		echo "Better, every assertion (test #n: runc's result: description):"
		awk -F'\t' '{ printf "  %s #%s: %s: %s\n", $1, $2, $3, $4 }' "$OUT/better.tsv"
	fi
} >"$OUT/summary.txt"

if ((DEFAULT_OUT)); then ln -sfn "$OUT" "$CACHE/results/latest"; fi
# The summary without the long per-assertion list goes to the terminal.
sed '/^Gap, every assertion/,$d' "$OUT/summary.txt" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
echo
echo "results: $OUT (runc/results.txt, hull/results.txt, summary.txt, gap.tsv)"
if ((GAP == 0)) && [[ -z $HULL_NOTE ]]; then
	echo "PASS: hull passes every assertion runc passes"
	exit 0
fi
echo "FAIL: hull fails $GAP assertions that runc passes${HULL_NOTE:+ ($HULL_NOTE)}"
((REPORT_ONLY)) && exit 0
exit 1

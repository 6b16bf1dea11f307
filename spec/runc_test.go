package spec

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
)

// runcCgroupParent is the cgroup every runc test container lives under.
const runcCgroupParent = "/hull-spec-test"

// randHex returns n random bytes in hex.
func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// removeCgroup removes the (empty) cgroup name from every hierarchy,
// ignoring errors: runc removes a container's own cgroup but not the
// parent it created, and a failed run may leave the container's.
func removeCgroup(name string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	dirs = append(dirs, "/sys/fs/cgroup")
	for _, d := range dirs {
		_ = os.Remove(filepath.Join(d, name))
	}
}

// runcResult is what the test command printed inside the container.
type runcResult struct {
	id     string            // `id` output
	status map[string]string // selected /proc/self/status fields
	lines  []string          // every output line
}

// runRunc writes a bundle (config.json from opts, a busybox rootfs), runs
// it with `runc run` and parses the output of args, which must print
// `id` first and then /proc/self/status lines.
func runRunc(t *testing.T, runc string, opts Options, args ...string) runcResult {
	t.Helper()
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	testutil.BusyboxRootfs(t, rootfs)
	id := "hull-spec-" + randHex(t, 6)
	opts.Rootfs = rootfs
	opts.Cmd = args
	opts.Hostname = "spec-test"
	opts.CgroupsPath = runcCgroupParent + "/" + id
	t.Cleanup(func() { removeCgroup(opts.CgroupsPath) })

	s, err := Generate(nil, opts)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runc, "--root", state, "run", "--bundle", bundle, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run()
	if err != nil {
		t.Fatalf("runc run: %v\nstdout:\n%s\nstderr:\n%s\nconfig.json:\n%.4000s", err, stdout.String(), stderr.String(), b)
	}

	res := runcResult{status: map[string]string{}}
	res.lines = strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(res.lines) == 0 || !strings.HasPrefix(res.lines[0], "uid=") {
		t.Fatalf("unexpected output:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	res.id = res.lines[0]
	for _, l := range res.lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok {
			res.status[k] = strings.TrimSpace(v)
		}
	}
	return res
}

// checkCaps compares the CapXxx fields of a status with the masks.
func checkCaps(t *testing.T, status map[string]string, want map[string]uint64) {
	t.Helper()
	for field, mask := range want {
		got, err := strconv.ParseUint(status[field], 16, 64)
		if err != nil {
			t.Errorf("%s = %q: %v", field, status[field], err)
			continue
		}
		if got != mask {
			t.Errorf("%s = %#x, want %#x", field, got, mask)
		}
	}
}

// TestRuncRunsSpec proves the generated spec is valid and secure: Debian's
// runc accepts it and the process inside gets exactly the user, groups,
// capabilities, no_new_privs and seccomp mode the spec asked for.
func TestRuncRunsSpec(t *testing.T) {
	runc := testutil.RequireBinary(t, "runc")
	testutil.RequireRoot(t)
	// Runs after the subtests' cleanups; fails harmlessly (EBUSY) while
	// another test process still uses the parent.
	t.Cleanup(func() { removeCgroup(runcCgroupParent) })
	defaultMask := CapabilityMask(DefaultCapabilities())
	statusCmd := "id; grep -E '^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status"

	t.Run("defaults as root", func(t *testing.T) {
		// The command of the issue, verbatim.
		res := runRunc(t, runc, Options{}, "/bin/sh", "-c", "id; cat /proc/self/status | grep Cap")
		if res.id != "uid=0(root) gid=0(root) groups=0(root)" {
			t.Errorf("id = %q", res.id)
		}
		checkCaps(t, res.status, map[string]uint64{
			"CapInh": 0, "CapPrm": defaultMask, "CapEff": defaultMask, "CapBnd": defaultMask, "CapAmb": 0,
		})
	})

	t.Run("non-root user: no effective caps, default seccomp", func(t *testing.T) {
		res := runRunc(t, runc, Options{User: "nobody", GroupAdd: []string{"4242"}}, "/bin/sh", "-c", statusCmd)
		// The kernel keeps supplementary groups sorted.
		if res.id != "uid=65534(nobody) gid=65534(nobody) groups=4242,65534(nobody)" {
			t.Errorf("id = %q", res.id)
		}
		checkCaps(t, res.status, map[string]uint64{
			"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": defaultMask, "CapAmb": 0,
		})
		if res.status["Seccomp"] != "2" || res.status["NoNewPrivs"] != "0" {
			t.Errorf("Seccomp %q NoNewPrivs %q, want 2 (filter) and 0", res.status["Seccomp"], res.status["NoNewPrivs"])
		}
	})

	t.Run("uid:gid with cap-drop ALL, cap-add, no-new-privileges", func(t *testing.T) {
		res := runRunc(t, runc, Options{
			User:        "1234:5678",
			CapDrop:     []string{"ALL"},
			CapAdd:      []string{"NET_BIND_SERVICE", "kill"},
			SecurityOpt: []string{"no-new-privileges"},
		}, "/bin/sh", "-c", statusCmd)
		if res.id != "uid=1234 gid=5678 groups=5678" {
			t.Errorf("id = %q", res.id)
		}
		checkCaps(t, res.status, map[string]uint64{
			"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 1<<10 | 1<<5, "CapAmb": 0,
		})
		if res.status["NoNewPrivs"] != "1" {
			t.Errorf("NoNewPrivs = %q", res.status["NoNewPrivs"])
		}
	})

	t.Run("seccomp unconfined and resources", func(t *testing.T) {
		h := currentHost()
		limits := "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
		if h.cgroup2 {
			limits = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
		}
		res := runRunc(t, runc, Options{
			SecurityOpt: []string{"seccomp=unconfined"},
			Memory:      64 << 20,
			PidsLimit:   ptr[int64](50),
			CPUs:        0.5,
			Ulimits:     []string{"nofile=512:1024"},
		}, "/bin/sh", "-c", statusCmd+"; "+limits+"; ulimit -n; ulimit -Hn")
		if res.status["Seccomp"] != "0" {
			t.Errorf("Seccomp = %q, want 0", res.status["Seccomp"])
		}
		tail := strings.Join(res.lines[len(res.lines)-4:], " ")
		if tail != "67108864 50 512 1024" {
			t.Errorf("memory limit, pids.max, nofile soft/hard = %q, want \"67108864 50 512 1024\"", tail)
		}
	})

	t.Run("privileged: every available capability", func(t *testing.T) {
		res := runRunc(t, runc, Options{Privileged: true}, "/bin/sh", "-c", statusCmd)
		all := CapabilityMask(currentHost().caps)
		checkCaps(t, res.status, map[string]uint64{"CapPrm": all, "CapEff": all, "CapBnd": all, "CapInh": 0})
		if res.status["Seccomp"] != "0" {
			t.Errorf("Seccomp = %q, want 0", res.status["Seccomp"])
		}
	})
}

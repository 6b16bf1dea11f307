package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The v2 manager is tested for real in the host's cgroup2 hierarchy: the
// unified mount of a hybrid host (which has the core files cgroup.procs,
// cgroup.freeze, cgroup.kill and cgroup.events, the eBPF device filter, and
// only the controllers no v1 hierarchy claimed), or /sys/fs/cgroup on a v2
// host.

// v2Root returns the cgroup2 mount point, or skips the test.
func v2Root(t *testing.T) string {
	t.Helper()
	requireCgroups(t)
	switch Mode() {
	case ModeV2:
		return mountRoot
	case ModeHybrid:
		return hybridUnified
	}
	t.Skip("no cgroup2 hierarchy on this host")
	return ""
}

// restoreSubtreeControl disables, when the test ends, the controllers that
// the test enabled in the hierarchy's root.
func restoreSubtreeControl(t *testing.T, root string) {
	t.Helper()
	before, err := cgroups.ReadFile(root, "cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, parent := range []string{testParent, testParentV2} {
			_ = syscall.Rmdir(filepath.Join(root, parent))
		}
		now, _ := cgroups.ReadFile(root, "cgroup.subtree_control")
		for _, c := range strings.Fields(now) {
			if !slices.Contains(strings.Fields(before), c) {
				_ = cgroups.WriteFile(root, "cgroup.subtree_control", "-"+c)
			}
		}
	})
}

func newV2Test(t *testing.T, r *specs.LinuxResources) *v2Manager {
	t.Helper()
	root := v2Root(t)
	restoreSubtreeControl(t, root)
	m, err := newV2(root, testParentV2+"/"+randomName(t), r)
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	return m
}

func TestV2Lifecycle(t *testing.T) {
	m := newV2Test(t, nil)
	p := start(t, nil, "sh", "-c", `read x; sleep 1000 & sleep 1000 & wait`)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	expectPid(t, m.Path("memory"), p.pid())
	p.release(t)
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 3 }) {
		t.Fatal("children did not start")
	}
	// Move one child into a nested cgroup: Pids is recursive.
	nested := filepath.Join(m.dir, "nested")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	pids, _ := m.Pids()
	child := pids[0]
	if child == p.pid() {
		child = pids[1]
	}
	if err := cgroups.WriteCgroupProc(nested, child); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Pids(); err != nil || len(got) != 3 || !slices.Contains(got, child) {
		t.Errorf("Pids() = %v, %v; want 3 processes including %d", got, err, child)
	}

	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if s, err := m.State(); err != nil || s != StatePaused {
		t.Fatalf("State() = %q, %v; want paused", s, err)
	}
	expectFile(t, m.dir, "cgroup.freeze", "1")
	// Freezing is asynchronous below the cgroup Freeze waited for: a task
	// just moved into the nested cgroup may reach its freeze point a
	// little later on a loaded machine.
	ev := readTrim(t, nested, "cgroup.events")
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(ev, "frozen 1") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		ev = readTrim(t, nested, "cgroup.events")
	}
	if !strings.Contains(ev, "frozen 1") {
		t.Errorf("nested cgroup.events = %q, want frozen", ev)
	}
	t.Logf("frozen (v2) process state: %s", procState(child))
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if s, err := m.State(); err != nil || s != StateRunning {
		t.Fatalf("State() after Thaw = %q, %v", s, err)
	}

	// Signals other than SIGKILL go process by process.
	if err := m.Kill(syscall.SIGTERM); err != nil {
		t.Fatalf("Kill(SIGTERM): %v", err)
	}
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 0 }) {
		pids, _ := m.Pids()
		t.Fatalf("left after SIGTERM: %v", pids)
	}
	if s, _ := m.State(); s != StateRunning {
		t.Errorf("state after Kill = %q, want running", s)
	}

	// SIGKILL goes through cgroup.kill, which also reaches frozen tasks.
	p2 := start(t, nil, "sh", "-c", `read x; sleep 1000 & sleep 1000 & wait`)
	if err := m.Apply(p2.pid()); err != nil {
		t.Fatal(err)
	}
	p2.release(t)
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 3 }) {
		t.Fatal("children did not start")
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if !fileExists(m.dir, "cgroup.kill") {
		t.Log("no cgroup.kill: Kill falls back to signalling every process")
	}
	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("Kill(SIGKILL): %v", err)
	}
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 0 }) {
		pids, _ := m.Pids()
		t.Fatalf("left after SIGKILL: %v", pids)
	}
	_ = m.Thaw()

	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range []string{nested, m.dir} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists: %v", d, err)
		}
	}
}

func TestV2SetAndStats(t *testing.T) {
	m := newV2Test(t, nil)
	p := start(t, nil, "sh", "-c", `read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo burned; exec sleep 1000`)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	if !waitFor(10*time.Second, func() bool { return strings.Contains(p.out.String(), "burned") }) {
		t.Fatal("helper did not finish")
	}

	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "3"}}); err != nil {
		t.Fatalf("Set(unified): %v", err)
	}
	expectFile(t, m.dir, "cgroup.max.descendants", "3")

	pids := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}
	if controllerAvailable(m.root, "pids") {
		if err := m.Set(pids); err != nil {
			t.Fatal(err)
		}
		expectFile(t, m.dir, "pids.max", "10")
	} else if err := m.Set(pids); err == nil || !strings.Contains(err.Error(), "pids controller is not available") {
		t.Errorf("pids limit without the pids controller: %v, want a clear error", err)
	}
	if controllerAvailable(m.root, "hugetlb") && slices.Contains(cgroups.HugePageSizes(), "2MB") {
		r := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}
		if err := m.Set(r); err != nil {
			t.Fatalf("Set(hugetlb): %v", err)
		}
		expectFile(t, m.dir, "hugetlb.2MB.max", "4194304")
	}
	if !controllerAvailable(m.root, "memory") {
		err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}})
		if err == nil || !strings.Contains(err.Error(), "memory controller is not available") {
			t.Errorf("memory limit without the memory controller: %v", err)
		}
	}

	st, err := m.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	t.Logf("v2 stats: cpu %+v pids %+v mem usage %d", st.CPU, st.Pids, st.Memory.Usage)
	if st.Pids.Current != 1 {
		t.Errorf("pids current = %d, want 1", st.Pids.Current)
	}
	if st.CPU.UsageNS == 0 {
		t.Errorf("cpu usage 0")
	}
	if killed, err := OOMKilled(m); err != nil || killed {
		t.Errorf("OOMKilled = %v, %v", killed, err)
	}
}

func TestV2DeviceFilter(t *testing.T) {
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rw"}, // /dev/null
	}}
	m := newV2Test(t, r)
	p := start(t, nil, "sh", "-c", `read x
if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-allowed; else echo zero-denied; fi
if echo hi >/dev/null; then echo null-allowed; fi`)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(nil); err != nil {
		t.Fatalf("Set(devices): %v", err)
	}
	p.release(t)
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Logf("shell: %v", err)
	}
	out := p.out.String()
	if !strings.Contains(out, "zero-denied") || !strings.Contains(out, "null-allowed") {
		t.Errorf("device filter: output %q, want /dev/zero denied and /dev/null allowed", out)
	}
}

// TestHybridUnified covers what a hybrid host routes to its unified
// hierarchy: hugetlb limits (when no v1 hugetlb hierarchy exists) and
// linux.resources.unified.
func TestHybridUnified(t *testing.T) {
	requireCgroups(t)
	if Mode() != ModeHybrid {
		t.Skip("not a hybrid host")
	}
	restoreSubtreeControl(t, hybridUnified)
	m := newTestManager(t, nil)
	p := start(t, nil, "sleep", "1000")
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	dir := m.Path("")
	if dir != filepath.Join(hybridUnified, m.(*v1Manager).inner) {
		t.Fatalf("Path(\"\") = %q", dir)
	}
	expectPid(t, dir, p.pid())

	if err := m.Set(&specs.LinuxResources{Unified: map[string]string{"cgroup.max.descendants": "2"}}); err != nil {
		t.Fatalf("Set(unified): %v", err)
	}
	expectFile(t, dir, "cgroup.max.descendants", "2")
	err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}})
	if err == nil || !strings.Contains(err.Error(), "memory controller is not available") {
		t.Errorf("unified memory key on a hybrid host: %v, want an error", err)
	}

	huge := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}}
	hasV1 := m.(*v1Manager).paths["hugetlb"] != ""
	switch {
	case hasV1 || !slices.Contains(cgroups.HugePageSizes(), "2MB"):
		t.Skip("hugetlb is a v1 hierarchy here, or no 2MB pages")
	case !controllerAvailable(hybridUnified, "hugetlb"):
		if err := m.Set(huge); err == nil {
			t.Error("hugetlb limit on a host without hugetlb: no error")
		}
	default:
		if err := m.Set(huge); err != nil {
			t.Fatalf("Set(hugetlb): %v", err)
		}
		if m.Path("hugetlb") != dir {
			t.Errorf("Path(hugetlb) = %q, want the unified directory", m.Path("hugetlb"))
		}
		expectFile(t, dir, "hugetlb.2MB.max", "4194304")
		st, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Hugetlb["2MB"]; !ok {
			t.Errorf("no 2MB hugetlb stats: %+v", st.Hugetlb)
		}
	}
}

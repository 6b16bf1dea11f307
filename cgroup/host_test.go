package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fscommon"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// These tests use the public API on the host's real cgroups (v1 and hybrid
// on the development machines; most checks also know the v2 file names).

func TestModeMatchesFilesystems(t *testing.T) {
	var st unix.Statfs_t
	want := ModeV1
	if unix.Statfs(mountRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		want = ModeV2
	} else if unix.Statfs(hybridUnified, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		want = ModeHybrid
	}
	if got := Mode(); got != want {
		t.Fatalf("Mode() = %q, want %q", got, want)
	}
	t.Logf("host cgroup mode: %s", want)
}

// blockDevice returns the major:minor and /dev node of the root
// filesystem's disk, if it is a whole block device.
func blockDevice(t *testing.T) (major, minor int64, node string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return 0, 0, ""
	}
	dev := uint64(st.Dev) // uint32 on mips
	major, minor = int64(unix.Major(dev)), int64(unix.Minor(dev))
	if _, err := os.Stat(fmt.Sprintf("/sys/dev/block/%d:%d/queue", major, minor)); err != nil {
		return 0, 0, "" // a partition, or not a block device
	}
	entries, _ := os.ReadDir("/dev")
	for _, e := range entries {
		var ds unix.Stat_t
		p := filepath.Join("/dev", e.Name())
		if unix.Stat(p, &ds) == nil && ds.Mode&unix.S_IFMT == unix.S_IFBLK && ds.Rdev == st.Dev {
			return major, minor, p
		}
	}
	return 0, 0, ""
}

func TestApplySetWritesFiles(t *testing.T) {
	devs := append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, DefaultDevices()...)
	r := &specs.LinuxResources{
		Devices: devs,
		Memory: &specs.LinuxMemory{
			Limit:       ptr(int64(64 << 20)),
			Reservation: ptr(int64(32 << 20)),
			Swap:        ptr(int64(96 << 20)),
			Swappiness:  ptr(uint64(10)),
			//lint:ignore SA1019 checks that the deprecated field is ignored, as by runc
			Kernel: ptr(int64(16 << 20)),
		},
		CPU: &specs.LinuxCPU{
			Shares: ptr(uint64(512)),
			Quota:  ptr(int64(50000)),
			Period: ptr(uint64(100000)),
			Cpus:   "0",
			Mems:   "0",
		},
		Pids:    &specs.LinuxPids{Limit: ptr(int64(10))},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500)), LeafWeight: ptr(uint16(300))},
	}
	major, minor, node := blockDevice(t)
	haveDev := node != ""
	if haveDev {
		r.BlockIO.ThrottleReadBpsDevice = []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 1 << 20}}
		r.BlockIO.ThrottleWriteIOPSDevice = []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: 100}}
	}
	m := newTestManager(t, r)
	p := start(t, nil, "sleep", "1000")
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatalf("Set: %v", err)
	}
	devStr := strconv.FormatInt(major, 10) + ":" + strconv.FormatInt(minor, 10)

	if Mode() == ModeV2 {
		dir := m.Path("")
		expectPid(t, dir, p.pid())
		expectFile(t, dir, "memory.max", "67108864")
		expectFile(t, dir, "memory.low", "33554432")
		expectFile(t, dir, "pids.max", "10")
		expectFile(t, dir, "cpu.max", "50000 100000")
		expectFile(t, dir, "cpu.weight", "59") // 512 shares
		expectFile(t, dir, "cpuset.cpus", "0")
		if haveDev {
			if got := readTrim(t, dir, "io.max"); !strings.Contains(got, devStr+" rbps=1048576") {
				t.Errorf("io.max = %q", got)
			}
		}
		return
	}

	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio"} {
		if dir := m.Path(c); dir != "" {
			if want := filepath.Join(mountRoot, c, m.(*v1Manager).inner); dir != want {
				t.Errorf("Path(%q) = %q, want %q", c, dir, want)
			}
			expectPid(t, dir, p.pid())
		}
	}
	if Mode() == ModeHybrid {
		expectPid(t, m.Path(""), p.pid())
	}
	mem := m.Path("memory")
	expectFile(t, mem, "memory.limit_in_bytes", "67108864")
	expectFile(t, mem, "memory.soft_limit_in_bytes", "33554432")
	if fileExists(mem, "memory.memsw.limit_in_bytes") {
		expectFile(t, mem, "memory.memsw.limit_in_bytes", "100663296")
	}
	expectFile(t, mem, "memory.swappiness", "10")
	if fileExists(mem, "memory.kmem.limit_in_bytes") {
		if got := readTrim(t, mem, "memory.kmem.limit_in_bytes"); got == "16777216" {
			t.Errorf("kernel memory limit was written; runc ignores it")
		}
	}
	expectFile(t, m.Path("pids"), "pids.max", "10")
	cpu := m.Path("cpu")
	expectFile(t, cpu, "cpu.shares", "512")
	expectFile(t, cpu, "cpu.cfs_quota_us", "50000")
	expectFile(t, cpu, "cpu.cfs_period_us", "100000")
	expectFile(t, m.Path("cpuset"), "cpuset.cpus", "0")
	expectFile(t, m.Path("cpuset"), "cpuset.mems", "0")

	blk := m.Path("blkio")
	switch {
	case fileExists(blk, "blkio.weight"):
		expectFile(t, blk, "blkio.weight", "500")
	case fileExists(blk, "blkio.bfq.weight"):
		if got := readTrim(t, blk, "blkio.bfq.weight"); !strings.Contains(got, "500") {
			t.Errorf("blkio.bfq.weight = %q, want 500", got)
		}
	default:
		t.Log("no blkio weight file: weight skipped")
	}
	if haveDev {
		expectFile(t, blk, "blkio.throttle.read_bps_device", devStr+" 1048576")
		expectFile(t, blk, "blkio.throttle.write_iops_device", devStr+" 100")
	}

	list := readTrim(t, m.Path("devices"), "devices.list")
	for _, want := range []string{"c 1:3 rwm", "c 1:5 rwm", "c *:* m", "c 136:* rwm"} {
		if !slices.Contains(strings.Split(list, "\n"), want) {
			t.Errorf("devices.list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "a *:* rwm") {
		t.Errorf("devices.list still allows everything:\n%s", list)
	}

	// An update without device rules leaves them alone; nil re-applies.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(80 << 20)), Swap: ptr(int64(80 << 20))}}); err != nil {
		t.Fatalf("update: %v", err)
	}
	expectFile(t, mem, "memory.limit_in_bytes", "83886080")
	if got := readTrim(t, m.Path("devices"), "devices.list"); got != list {
		t.Errorf("update changed devices.list to:\n%s", got)
	}
	if err := m.Set(nil); err != nil {
		t.Fatalf("Set(nil): %v", err)
	}
	expectFile(t, mem, "memory.limit_in_bytes", "83886080")
	// Unlimited values.
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(-1))}, Pids: &specs.LinuxPids{Limit: ptr(int64(-1))}}); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
	expectFile(t, m.Path("pids"), "pids.max", "max")
	if got := readTrim(t, mem, "memory.limit_in_bytes"); len(got) < 18 {
		t.Errorf("memory.limit_in_bytes = %s after -1, want the kernel's no-limit value", got)
	}
}

func TestStats(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20))},
		Pids:   &specs.LinuxPids{Limit: ptr(int64(10))},
	}
	m := newTestManager(t, r)
	// Burn some CPU, then read and write 256 KiB with O_DIRECT on the root
	// filesystem's disk (a file of the test's temporary directory).
	script := `read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo burned`
	_, _, node := blockDevice(t)
	haveDev := node != ""
	if haveDev {
		dir := t.TempDir()
		in := filepath.Join(dir, "in")
		if err := os.WriteFile(in, make([]byte, 64*4096), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("sync", in).Run(); err != nil {
			t.Fatal(err)
		}
		script += "; dd if=" + in + " of=/dev/null bs=4096 count=64 iflag=direct 2>&1" +
			"; dd if=" + in + " of=" + filepath.Join(dir, "out") + " bs=4096 count=64 oflag=direct conv=fsync 2>&1; echo io-done"
	}
	p := start(t, nil, "sh", "-c", script+"; exec sleep 1000")
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	if !waitFor(10*time.Second, func() bool {
		return strings.Contains(p.out.String(), "burned") && (!haveDev || strings.Contains(p.out.String(), "io-done"))
	}) {
		t.Fatalf("helper did not finish: %s", p.out.String())
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: cpu %+v mem usage %d limit %d failcnt %d oom %d pids %+v blkio r=%d w=%d",
		st.CPU, st.Memory.Usage, st.Memory.Limit, st.Memory.Failcnt, st.Memory.OOMKills, st.Pids, st.BlkIO.ReadBytes, st.BlkIO.WriteBytes)
	if st.Memory.Limit != 64<<20 {
		t.Errorf("memory limit = %d, want %d", st.Memory.Limit, 64<<20)
	}
	if st.Memory.Usage == 0 || len(st.Memory.Stat) == 0 {
		t.Errorf("memory usage %d, %d memory.stat keys", st.Memory.Usage, len(st.Memory.Stat))
	}
	if st.Pids.Limit != 10 || st.Pids.Current < 1 || st.Pids.Current > 10 {
		t.Errorf("pids = %+v, want limit 10 and 1..10 tasks", st.Pids)
	}
	if st.CPU.UsageNS == 0 {
		t.Errorf("cpu usage is 0")
	}
	if haveDev && (st.BlkIO.ReadBytes < 64*4096 || st.BlkIO.WriteBytes < 64*4096) {
		t.Errorf("blkio read/written bytes = %d/%d, want >= %d (entries %+v)", st.BlkIO.ReadBytes, st.BlkIO.WriteBytes, 64*4096, st.BlkIO.ServiceBytes)
	}
	if st.Memory.OOMKills != 0 {
		t.Errorf("OOM kills = %d", st.Memory.OOMKills)
	}
}

func TestFreezeThaw(t *testing.T) {
	m := newTestManager(t, nil)
	out := filepath.Join(t.TempDir(), "ticks")
	p := start(t, nil, "sh", "-c", `read x; while :; do echo x >> "$1"; sleep 0.02; done`, "sh", out)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	if !waitFor(5*time.Second, func() bool { return fileSize(out) > 0 }) {
		t.Fatal("helper does not tick")
	}
	if s, err := m.State(); err != nil || s != StateRunning {
		t.Fatalf("State() = %q, %v; want running", s, err)
	}
	if err := m.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if s, err := m.State(); err != nil || s != StatePaused {
		t.Fatalf("State() after Freeze = %q, %v; want paused", s, err)
	}
	if Mode() == ModeV2 {
		if got := readTrim(t, m.Path(""), "cgroup.events"); !strings.Contains(got, "frozen 1") {
			t.Errorf("cgroup.events = %q", got)
		}
	} else {
		expectFile(t, m.Path("freezer"), "freezer.state", "FROZEN")
	}
	t.Logf("frozen shell: State: %s", procState(p.pid()))
	size := fileSize(out)
	time.Sleep(300 * time.Millisecond)
	if got := fileSize(out); got != size {
		t.Errorf("frozen process kept writing: %d -> %d bytes", size, got)
	}
	if err := m.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if s, err := m.State(); err != nil || s != StateRunning {
		t.Fatalf("State() after Thaw = %q, %v; want running", s, err)
	}
	if !waitFor(5*time.Second, func() bool { return fileSize(out) > size }) {
		t.Error("thawed process does not write")
	}
}

func TestKill(t *testing.T) {
	m := newTestManager(t, nil)
	p := start(t, nil, "sh", "-c", `read x; sleep 1000 & sleep 1000 & sh -c 'sleep 1000 & wait' & echo started; wait`)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 5 }) {
		pids, _ := m.Pids()
		t.Fatalf("Pids() = %v, want 5 processes", pids)
	}
	// A signal sent to a paused container is delivered; it stays paused.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(syscall.SIGCONT); err != nil {
		t.Fatalf("Kill(SIGCONT): %v", err)
	}
	if s, _ := m.State(); s != StatePaused {
		t.Errorf("state after Kill(SIGCONT) on a paused cgroup = %q, want paused", s)
	}
	// SIGKILL kills everything, paused or not.
	if err := m.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("Kill(SIGKILL): %v", err)
	}
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 0 }) {
		pids, _ := m.Pids()
		t.Fatalf("processes left after Kill: %v", pids)
	}
	var ee *exec.ExitError
	if err := p.wait(t, 5*time.Second); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("shell exit: %v, want killed", err)
	}
	if s, _ := m.State(); s != StateRunning {
		t.Errorf("state after SIGKILL = %q, want running (thawed)", s)
	}
}

func TestOOMKill(t *testing.T) {
	// No swap limit: with swap accounting, a memory+swap limit equal to the
	// memory limit would be hit first, counted in memory.memsw.failcnt.
	r := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20))}}
	m := newTestManager(t, r)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, []string{helperEnv + "=alloc", "HULL_CGROUP_TEST_MIB=100"}, exe, "-test.run=^$")
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(nil); err != nil { // the resources given to New
		t.Fatal(err)
	}
	if killed, err := OOMKilled(m); err != nil || killed {
		t.Fatalf("OOMKilled before = %v, %v", killed, err)
	}
	p.release(t)
	err = p.wait(t, 30*time.Second)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper exit: %v (output %q), want SIGKILL by the OOM killer", err, p.out.String())
	}
	killed, err := OOMKilled(m)
	if err != nil || !killed {
		t.Fatalf("OOMKilled = %v, %v; want true", killed, err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.OOMKills < 1 || st.Memory.Failcnt < 1 {
		t.Errorf("OOM kills %d, failcnt %d; want >= 1", st.Memory.OOMKills, st.Memory.Failcnt)
	}
	// The kernel lets a task the OOM killer picked charge past the limit
	// while it dies (memcg's forced charge, at most one charge batch of
	// 64 pages): the limit held if usage stayed within that of it, far
	// below the 100 MiB the helper asked for.
	const forcedCharge = 64 << 12
	if st.Memory.MaxUsage > 32<<20+forcedCharge {
		t.Errorf("max usage %d above the limit", st.Memory.MaxUsage)
	}
}

func TestPidsLimitStopsFork(t *testing.T) {
	r := &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}
	m := newTestManager(t, r)
	p := start(t, nil, "sh", "-c", `read x; i=0; while [ $i -lt 30 ]; do sleep 1000 & i=$((i+1)); done; echo spawned $i`)
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	_ = p.wait(t, 10*time.Second)
	out := p.out.String()
	if strings.Contains(out, "spawned 30") || !strings.Contains(strings.ToLower(out), "fork") {
		t.Errorf("shell output %q: want a fork failure", out)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids.Current > 10 || st.Pids.Current < 9 {
		t.Errorf("pids.current = %d, want 9 or 10", st.Pids.Current)
	}
	if n, err := fscommon.GetValueByKey(m.Path("pids"), "pids.events", "max"); err == nil && n == 0 {
		t.Errorf("pids.events max = 0, want > 0")
	}
}

func TestDestroyRemovesEverything(t *testing.T) {
	requireCgroups(t)
	path := testParent + "/" + randomName(t)
	m, err := New(path, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(5))}})
	if err != nil {
		t.Fatal(err)
	}
	cleanupManager(t, m)
	p := start(t, nil, "sh", "-c", "read x; sleep 1000 & wait")
	if err := m.Apply(p.pid()); err != nil {
		t.Fatal(err)
	}
	p.release(t)
	// A nested cgroup, as a container with its own cgroup namespace makes.
	var dirs []string
	for _, d := range allPaths(m) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s missing after Apply: %v", d, err)
		}
		dirs = append(dirs, d)
	}
	if len(dirs) == 0 {
		t.Fatal("no cgroup directories")
	}
	sub := filepath.Join(m.Path("pids"), "nested")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { pids, _ := m.Pids(); return len(pids) == 2 }) {
		t.Fatal("sleep did not start")
	}
	pids, _ := m.Pids()
	child := pids[0]
	if child == p.pid() {
		child = pids[1]
	}
	if err := cgroups.WriteCgroupProc(sub, child); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Pids(); len(got) != 2 {
		t.Errorf("recursive Pids() = %v", got)
	}

	// Load from "another process" sees the same cgroup.
	l, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if l.Path("pids") != m.Path("pids") {
		t.Errorf("Load: Path(pids) = %q, want %q", l.Path("pids"), m.Path("pids"))
	}
	if err := l.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNoPids(t, l)
	if !waitFor(5*time.Second, func() bool { return len(procsOf(t, sub)) == 0 }) {
		t.Fatal("nested process survived")
	}
	if err := l.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after Destroy (%v)", d, err)
		}
	}
	if _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load after Destroy: %v, want fs.ErrNotExist", err)
	}
	if err := m.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestMissingControllers(t *testing.T) {
	m := newTestManager(t, nil)
	if err := m.Apply(-1); err != nil {
		t.Fatal(err)
	}
	_, netCls := m.(*v1Manager).paths["net_cls"]
	if Mode() != ModeV2 && !netCls {
		err := m.Set(&specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(0x100001))}})
		if err == nil || !strings.Contains(err.Error(), "net_cls") {
			t.Errorf("net_cls classID without a net_cls hierarchy: %v, want an error", err)
		}
	}
	if Mode() == ModeV1 {
		err := m.Set(&specs.LinuxResources{Unified: map[string]string{"memory.high": "1M"}})
		if !errors.Is(err, cgroups.ErrV1NoUnified) {
			t.Errorf("unified on v1: %v", err)
		}
	}
}

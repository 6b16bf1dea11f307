package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // lets the fs and fs2 managers write device rules
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1Manager manages a container on a cgroup v1 or hybrid host. The v1
// controllers are handled by the library's fs manager, which on hybrid hosts
// also creates the container's directory in the unified hierarchy (key "")
// and moves the processes there; hull uses that directory for hugetlb limits
// when no v1 hugetlb hierarchy exists, and for linux.resources.unified.
type v1Manager struct {
	mu     sync.Mutex
	inner  string
	hybrid bool
	fs     *fs.Manager
	// paths maps controller names (and "name=systemd", and "" for the
	// unified directory of hybrid hosts) to the container's directories.
	// Controllers the host has not mounted are absent.
	paths map[string]string
	last  *specs.LinuxResources
}

func newV1(inner string, r *specs.LinuxResources, hybrid bool) (*v1Manager, error) {
	p, err := translate(r, false)
	if err != nil {
		return nil, err
	}
	if len(p.unified) > 0 && !hybrid {
		return nil, fmt.Errorf("cgroup: linux.resources.unified needs cgroup v2: %w", cgroups.ErrV1NoUnified)
	}
	// The fs manager uses these resources in Apply: real-time CPU limits
	// are set before the process moves in, and the devices cgroup is joined
	// only when devices are not skipped.
	base := *p.res
	base.SkipDevices = false
	fm, err := fs.NewManager(&cgroups.Cgroup{Path: inner, Resources: &base}, nil)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %s: %w", inner, err)
	}
	return &v1Manager{
		inner:  inner,
		hybrid: hybrid,
		fs:     fm,
		paths:  maps.Clone(fm.GetPaths()),
		last:   r,
	}, nil
}

// Apply implements Manager.
func (m *v1Manager) Apply(pid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fs.Apply(pid); err != nil {
		return fmt.Errorf("cgroup: apply %s (pid %d): %w", m.inner, pid, err)
	}
	return nil
}

// Set implements Manager.
func (m *v1Manager) Set(r *specs.LinuxResources) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r == nil {
		r = m.last
	}
	p, err := translate(r, false)
	if err != nil {
		return err
	}
	if len(p.unified) > 0 && !m.hybrid {
		return fmt.Errorf("cgroup: linux.resources.unified needs cgroup v2: %w", cgroups.ErrV1NoUnified)
	}
	res := p.res
	if dir := m.paths["blkio"]; dir != "" {
		trimBlkioV1(res, dir)
	}
	// Without swap accounting there is no memory.memsw.limit_in_bytes, and
	// "no swap limit" (-1) is already the state; Docker sends -1 there.
	if dir := m.paths["memory"]; res.MemorySwap == -1 && dir != "" && !fileExists(dir, "memory.memsw.limit_in_bytes") {
		res.MemorySwap = 0
	}
	var unifiedHuge []*cgroups.HugepageLimit
	if len(res.HugetlbLimit) > 0 && m.paths["hugetlb"] == "" {
		if !m.hybrid || !controllerAvailable(hybridUnified, "hugetlb") {
			return errors.New("cgroup: hugepage limits requested but this host has no hugetlb controller")
		}
		unifiedHuge, res.HugetlbLimit = res.HugetlbLimit, nil
	}
	for _, c := range v1Controllers(p) {
		if m.paths[c] == "" {
			return fmt.Errorf("cgroup: %s limits requested but the %s controller is not mounted on this host", c, c)
		}
	}
	if err := m.fs.Set(res); err != nil {
		return fmt.Errorf("cgroup: set resources of %s: %w", m.inner, err)
	}
	if p.pids != nil {
		if err := writePids(m.paths["pids"], *p.pids); err != nil {
			return err
		}
	}
	if len(unifiedHuge) > 0 || len(p.unified) > 0 {
		if err := m.setUnified(unifiedHuge, p.unified); err != nil {
			return err
		}
	}
	m.last = r
	return nil
}

// v1Controllers lists the v1 controllers p writes to (hugetlb and devices
// are checked elsewhere).
func v1Controllers(p *plan) []string {
	r := p.res
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	add(p.pids != nil, "pids")
	add(r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 || r.OomKillDisable ||
		(r.MemorySwappiness != nil && int64(*r.MemorySwappiness) != -1), "memory")
	add(r.CpuShares != 0 || r.CpuQuota != 0 || r.CpuPeriod != 0 || r.CpuBurst != nil ||
		r.CpuRtRuntime != 0 || r.CpuRtPeriod != 0 || r.CPUIdle != nil, "cpu")
	add(r.CpusetCpus != "" || r.CpusetMems != "", "cpuset")
	add(r.BlkioWeight != 0 || r.BlkioLeafWeight != 0 || len(r.BlkioWeightDevice) > 0 ||
		len(r.BlkioThrottleReadBpsDevice) > 0 || len(r.BlkioThrottleWriteBpsDevice) > 0 ||
		len(r.BlkioThrottleReadIOPSDevice) > 0 || len(r.BlkioThrottleWriteIOPSDevice) > 0, "blkio")
	add(r.NetClsClassid != 0, "net_cls")
	add(len(r.NetPrioIfpriomap) > 0, "net_prio")
	add(len(r.Rdma) > 0, "rdma")
	add(len(r.HugetlbLimit) > 0, "hugetlb")
	return out
}

// setUnified writes hugepage limits and unified keys into the container's
// directory of the hybrid unified hierarchy, enabling the controllers they
// need in its ancestors first.
func (m *v1Manager) setUnified(huge []*cgroups.HugepageLimit, unified map[string]string) error {
	dir := m.paths[""]
	if dir == "" {
		return errors.New("cgroup: no unified cgroup directory on this host")
	}
	want := unifiedControllers(unified)
	if len(huge) > 0 {
		want = append(want, "hugetlb")
	}
	if err := enableControllers(hybridUnified, dir, want); err != nil {
		return err
	}
	f2, err := fs2.NewManager(&cgroups.Cgroup{Path: m.inner, Resources: &cgroups.Resources{}}, dir)
	if err != nil {
		return fmt.Errorf("cgroup: %s: %w", dir, err)
	}
	res := &cgroups.Resources{SkipDevices: true, HugetlbLimit: huge, Unified: unified}
	if err := f2.Set(res); err != nil {
		return fmt.Errorf("cgroup: set unified resources of %s: %w", m.inner, err)
	}
	return nil
}

// Stats implements Manager.
func (m *v1Manager) Stats() (*Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := m.fs.GetStats()
	if err != nil {
		return nil, fmt.Errorf("cgroup: stats of %s: %w", m.inner, err)
	}
	out := convertStats(st)
	out.Memory.Failcnt = st.MemoryStats.Usage.Failcnt
	if out.Memory.OOMKills, err = m.oomKillCountLocked(); err != nil {
		return nil, err
	}
	if dir := m.paths[""]; m.hybrid && m.paths["hugetlb"] == "" && dir != "" {
		f2, err := fs2.NewManager(&cgroups.Cgroup{Path: m.inner, Resources: &cgroups.Resources{}}, dir)
		if err == nil {
			if hs, err := f2.Stats(&cgroups.StatsOptions{Controllers: cgroups.HugeTLB}); err == nil {
				out.Hugetlb = convertHugetlb(hs.HugetlbStats)
			}
		}
	}
	return out, nil
}

func (m *v1Manager) oomKillCount() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oomKillCountLocked()
}

func (m *v1Manager) oomKillCountLocked() (uint64, error) {
	dir := m.paths["memory"]
	if dir == "" {
		return 0, nil
	}
	n, err := fs.OOMKillCount(dir)
	if err != nil {
		return 0, fmt.Errorf("cgroup: OOM kill count of %s: %w", m.inner, err)
	}
	return n, nil
}

// Freeze implements Manager.
func (m *v1Manager) Freeze() error {
	return m.setFreezer(cgroups.Frozen)
}

// Thaw implements Manager.
func (m *v1Manager) Thaw() error {
	return m.setFreezer(cgroups.Thawed)
}

func (m *v1Manager) setFreezer(s cgroups.FreezerState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fs.Freeze(s); err != nil {
		return fmt.Errorf("cgroup: set freezer of %s to %s: %w", m.inner, strings.ToLower(string(s)), err)
	}
	return nil
}

// State implements Manager.
func (m *v1Manager) State() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Read freezer.state once: the library's reader retries for as long
	// as a cgroup stays FREEZING, which can be forever when a task is
	// stuck in the kernel.
	dir := m.paths["freezer"]
	if dir == "" {
		return StateRunning, nil // no freezer hierarchy: never paused
	}
	b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	if err != nil {
		return "", fmt.Errorf("cgroup: freezer state of %s: %w", m.inner, err)
	}
	switch strings.TrimSpace(string(b)) {
	case "FROZEN", "FREEZING":
		return StatePaused, nil
	}
	return StateRunning, nil
}

// Pids implements Manager. Every v1 hierarchy holds all of the container's
// processes; the freezer one is preferred because Kill freezes it.
func (m *v1Manager) Pids() ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range []string{"freezer", "devices", "pids", "memory", "cpu", "cpuacct", "cpuset", "blkio", ""} {
		if dir := m.paths[c]; dir != "" {
			pids, err := cgroups.GetAllPids(dir)
			if err != nil {
				return nil, fmt.Errorf("cgroup: list processes of %s: %w", m.inner, err)
			}
			return pids, nil
		}
	}
	return nil, fmt.Errorf("cgroup: %s: no cgroup hierarchy to list processes from", m.inner)
}

// Kill implements Manager: it freezes the cgroup (when a freezer exists), so
// that no process can fork while the signals are sent, then thaws it.
func (m *v1Manager) Kill(sig syscall.Signal) error {
	return signalAll(m, sig)
}

// Destroy implements Manager. The manager stays usable: Apply creates the
// directories again.
func (m *v1Manager) Destroy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// RemovePaths deletes the removed entries from the map it is given.
	if err := cgroups.RemovePaths(maps.Clone(m.paths)); err != nil {
		return fmt.Errorf("cgroup: destroy %s: %w", m.inner, err)
	}
	return nil
}

// Path implements Manager. On hybrid hosts whose hugetlb controller lives in
// the unified hierarchy, Path("hugetlb") is the unified directory.
func (m *v1Manager) Path(controller string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.paths[controller]; p != "" || controller != "hugetlb" || !m.hybrid {
		return p
	}
	if controllerAvailable(hybridUnified, "hugetlb") {
		return m.paths[""]
	}
	return ""
}

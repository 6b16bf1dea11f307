package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	"github.com/opencontainers/cgroups/fscommon"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Manager manages a container in a cgroup v2 hierarchy mounted at root
// (/sys/fs/cgroup on v2 hosts). Creating the directory and enabling
// controllers is hull's own code, as the library's version only works below
// /sys/fs/cgroup; resources, stats and the freezer go through the library's
// fs2 manager.
type v2Manager struct {
	mu    sync.Mutex
	root  string
	inner string
	dir   string
	fs2   *fs2.Manager
	last  *specs.LinuxResources
}

func newV2(root, inner string, r *specs.LinuxResources) (*v2Manager, error) {
	if _, err := translate(r, true); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, inner)
	f2, err := fs2.NewManager(&cgroups.Cgroup{Path: inner, Resources: &cgroups.Resources{}}, dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %s: %w", dir, err)
	}
	return &v2Manager{root: root, inner: inner, dir: dir, fs2: f2, last: r}, nil
}

// Apply implements Manager. Like runc, it enables every controller available
// to each ancestor in that ancestor's cgroup.subtree_control, so that
// statistics exist even for resources without limits.
func (m *v2Manager) Apply(pid int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.create(); err != nil {
		return err
	}
	if err := cgroups.WriteCgroupProc(m.dir, pid); err != nil {
		return fmt.Errorf("cgroup: apply %s (pid %d): %w", m.inner, pid, err)
	}
	return nil
}

func (m *v2Manager) create() (retErr error) {
	rel, err := filepath.Rel(m.root, m.dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup: %s is not below %s", m.dir, m.root)
	}
	cur := m.root
	for _, e := range strings.Split(rel, "/") {
		enableAvailable(cur)
		cur = filepath.Join(cur, e)
		if err := os.Mkdir(cur, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("cgroup: create %s: %w", cur, err)
			}
			continue
		}
		created := cur
		defer func() {
			if retErr != nil {
				_ = os.Remove(created)
			}
		}()
	}
	if t, err := cgroups.ReadFile(m.dir, "cgroup.type"); err == nil && strings.TrimSpace(t) == "domain invalid" {
		return fmt.Errorf("cgroup: %s is in the \"domain invalid\" state (a parent cgroup holds processes)", m.dir)
	}
	return nil
}

// enableAvailable enables, best effort, every controller listed in
// dir/cgroup.controllers for dir's children.
func enableAvailable(dir string) {
	avail, err := cgroups.ReadFile(dir, "cgroup.controllers")
	if err != nil {
		return
	}
	enabled, _ := cgroups.ReadFile(dir, "cgroup.subtree_control")
	var missing []string
	for _, c := range strings.Fields(avail) {
		if !slices.Contains(strings.Fields(enabled), c) {
			missing = append(missing, "+"+c)
		}
	}
	if len(missing) == 0 {
		return
	}
	if cgroups.WriteFile(dir, "cgroup.subtree_control", strings.Join(missing, " ")) == nil {
		return
	}
	for _, c := range missing {
		_ = cgroups.WriteFile(dir, "cgroup.subtree_control", c)
	}
}

// controllerAvailable reports whether dir/cgroup.controllers lists c.
func controllerAvailable(dir, c string) bool {
	avail, err := cgroups.ReadFile(dir, "cgroup.controllers")
	return err == nil && slices.Contains(strings.Fields(avail), c)
}

// enableControllers makes the controllers in want available in dir, a
// directory below the cgroup2 mount root, by enabling them in the
// cgroup.subtree_control of root and of every directory between root and
// dir. It fails when an ancestor cannot offer one of them.
func enableControllers(root, dir string, want []string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup: %s is not below %s", dir, root)
	}
	elems := strings.Split(rel, "/")
	cur := root
	for i := range elems {
		enabled, err := cgroups.ReadFile(cur, "cgroup.subtree_control")
		if err != nil {
			return fmt.Errorf("cgroup: read controllers of %s: %w", cur, err)
		}
		for _, c := range want {
			if slices.Contains(strings.Fields(enabled), c) {
				continue
			}
			if !controllerAvailable(cur, c) {
				return fmt.Errorf("cgroup: the %s controller is not available in %s", c, cur)
			}
			if err := cgroups.WriteFile(cur, "cgroup.subtree_control", "+"+c); err != nil {
				return fmt.Errorf("cgroup: enable the %s controller in %s: %w", c, cur, err)
			}
		}
		cur = filepath.Join(cur, elems[i])
	}
	return nil
}

// Set implements Manager.
func (m *v2Manager) Set(r *specs.LinuxResources) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r == nil {
		r = m.last
	}
	p, err := translate(r, true)
	if err != nil {
		return err
	}
	trimBlkioV2(p.res, m.dir)
	want := append(v2Controllers(p), unifiedControllers(p.res.Unified)...)
	var missing []string
	for _, c := range want {
		if !controllerAvailable(m.dir, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		if err := enableControllers(m.root, m.dir, missing); err != nil {
			return err
		}
	}
	if err := m.fs2.Set(p.res); err != nil {
		return fmt.Errorf("cgroup: set resources of %s: %w", m.inner, err)
	}
	if p.pids != nil {
		if err := writePids(m.dir, *p.pids); err != nil {
			return err
		}
	}
	m.last = r
	return nil
}

// Stats implements Manager.
func (m *v2Manager) Stats() (*Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := m.fs2.GetStats()
	if err != nil {
		return nil, fmt.Errorf("cgroup: stats of %s: %w", m.inner, err)
	}
	out := convertStats(st)
	// memory.events "max": how often usage hit memory.max.
	if n, err := fscommon.GetValueByKey(m.dir, "memory.events", "max"); err == nil {
		out.Memory.Failcnt = n
	}
	if out.Memory.OOMKills, err = m.oomKillCountLocked(); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *v2Manager) oomKillCount() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oomKillCountLocked()
}

func (m *v2Manager) oomKillCountLocked() (uint64, error) {
	n, err := fs2.OOMKillCount(m.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && fileExists(m.dir, "cgroup.procs") {
			return 0, nil // no memory controller here
		}
		return 0, fmt.Errorf("cgroup: OOM kill count of %s: %w", m.inner, err)
	}
	return n, nil
}

// Freeze implements Manager (cgroup.freeze).
func (m *v2Manager) Freeze() error {
	return m.setFreezer(cgroups.Frozen)
}

// Thaw implements Manager.
func (m *v2Manager) Thaw() error {
	return m.setFreezer(cgroups.Thawed)
}

func (m *v2Manager) setFreezer(s cgroups.FreezerState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fs2.Freeze(s); err != nil {
		return fmt.Errorf("cgroup: set freezer of %s to %s: %w", m.inner, strings.ToLower(string(s)), err)
	}
	return nil
}

// State implements Manager.
func (m *v2Manager) State() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.fs2.GetFreezerState()
	if err != nil {
		return "", fmt.Errorf("cgroup: freezer state of %s: %w", m.inner, err)
	}
	if s == cgroups.Frozen {
		return StatePaused, nil
	}
	return StateRunning, nil
}

// Pids implements Manager.
func (m *v2Manager) Pids() ([]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pids, err := cgroups.GetAllPids(m.dir)
	if err != nil {
		return nil, fmt.Errorf("cgroup: list processes of %s: %w", m.inner, err)
	}
	return pids, nil
}

// Kill implements Manager. SIGKILL goes through cgroup.kill (Linux 5.14+),
// which kills the whole subtree atomically; other signals, and SIGKILL on
// older kernels, are sent process by process with the cgroup frozen.
func (m *v2Manager) Kill(sig syscall.Signal) error {
	if sig == syscall.SIGKILL && fileExists(m.dir, "cgroup.kill") {
		if err := cgroups.WriteFile(m.dir, "cgroup.kill", "1"); err != nil {
			return fmt.Errorf("cgroup: kill %s: %w", m.inner, err)
		}
		return nil
	}
	return signalAll(m, sig)
}

// Destroy implements Manager.
func (m *v2Manager) Destroy() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := cgroups.RemovePath(m.dir); err != nil {
		return fmt.Errorf("cgroup: destroy %s: %w", m.inner, err)
	}
	return nil
}

// Path implements Manager: every controller shares one directory.
func (m *v2Manager) Path(string) string {
	return m.dir
}

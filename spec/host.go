package spec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostInfo is what Generate needs to know about the machine it runs on: the
// facts Docker's daemon reads from its sysinfo package. Generate probes the
// real host once (currentHost); tests hand generate a fixed one.
type hostInfo struct {
	// cgroup2 is true on a unified (cgroup v2 only) host; false on v1 and
	// hybrid hosts.
	cgroup2 bool
	// numCPU is the number of CPUs the --cpus range is checked against.
	numCPU int
	// caps lists the capabilities available in the current environment
	// (known to the kernel and in this process's effective set), in bit
	// order: what --privileged and --cap-add=ALL grant.
	caps []string
	// unsupportedCaps names capabilities hull knows but that the kernel or
	// the current environment lacks (for the error Docker gives on adding
	// one).
	unsupportedCaps map[string]bool
	// swapLimit reports whether the memory cgroup can limit swap
	// (memory.memsw.* on v1); without it --memory-swap is dropped.
	swapLimit bool
	// cpus and mems are the host's available cpuset (list format), checked
	// against --cpuset-cpus and --cpuset-mems; empty disables the check.
	cpus, mems string
	// pingGroupRange and unprivilegedPortStart report whether the kernel
	// has the sysctls Docker sets by default in a private network namespace.
	pingGroupRange, unprivilegedPortStart bool
	// devices enumerates the host's /dev for --privileged.
	devices func() ([]specs.LinuxDevice, error)
}

// currentHost probes the host once per process.
var currentHost = sync.OnceValue(probeHost)

// probeHost reads the host facts from /proc and /sys. Errors are not
// fatal: a fact that cannot be read falls back to the permissive value
// Docker also assumes (for instance all known capabilities).
func probeHost() *hostInfo {
	h := &hostInfo{
		cgroup2:               isCgroup2("/sys/fs/cgroup"),
		numCPU:                runtime.NumCPU(),
		pingGroupRange:        sysctlExists("net.ipv4.ping_group_range"),
		unprivilegedPortStart: sysctlExists("net.ipv4.ip_unprivileged_port_start"),
		devices:               HostDevices,
	}
	eff, effKnown := readEffectiveCaps()
	h.caps, h.unsupportedCaps = availableCaps(readCapLastCap(), eff, effKnown)
	if h.cgroup2 {
		if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			h.swapLimit = containsField(string(b), "memory")
		}
		h.cpus = readTrimmed("/sys/fs/cgroup/cpuset.cpus.effective")
		h.mems = readTrimmed("/sys/fs/cgroup/cpuset.mems.effective")
	} else {
		_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		h.swapLimit = err == nil
		h.cpus = readTrimmed("/sys/fs/cgroup/cpuset/cpuset.cpus")
		h.mems = readTrimmed("/sys/fs/cgroup/cpuset/cpuset.mems")
	}
	return h
}

// isCgroup2 reports whether dir is a cgroup2 file system (a unified host).
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP2_SUPER_MAGIC
}

// sysctlExists reports whether /proc/sys has the sysctl name. runc fails on
// a sysctl the kernel lacks, so Docker only adds its defaults if they exist.
func sysctlExists(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

func readTrimmed(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func containsField(s, field string) bool {
	for _, f := range strings.Fields(s) {
		if f == field {
			return true
		}
	}
	return false
}

// readCapLastCap returns /proc/sys/kernel/cap_last_cap, or -1 if unknown.
func readCapLastCap() int {
	n, err := strconv.Atoi(readTrimmed("/proc/sys/kernel/cap_last_cap"))
	if err != nil {
		return -1
	}
	return n
}

// readEffectiveCaps returns the CapEff bitmask of this process, or false if
// /proc/self/status cannot be read.
func readEffectiveCaps() (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	mask, err := parseStatusCaps(f, "CapEff")
	if err != nil {
		return 0, false
	}
	return mask, true
}

// parseStatusCaps returns the hexadecimal capability mask of field (CapEff,
// CapBnd, ...) from a /proc/<pid>/status text.
func parseStatusCaps(r io.Reader, field string) (uint64, error) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || k != field {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", field, err)
		}
		return mask, nil
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(field + " not found")
}

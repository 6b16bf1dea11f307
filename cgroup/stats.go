package cgroup

import (
	"maps"
	"strings"

	"github.com/opencontainers/cgroups"
)

// Stats is a snapshot of a container cgroup's resource usage: what `docker
// stats` shows, and what OOMKilled detection needs. Fields the host cannot
// report are zero.
type Stats struct {
	// CPU is the CPU time consumed.
	CPU CPUStats
	// Memory is the memory usage and limit.
	Memory MemoryStats
	// Pids counts tasks.
	Pids PidsStats
	// BlkIO is the block I/O done.
	BlkIO BlkIOStats
	// Hugetlb maps a page size ("2MB") to its hugepage usage.
	Hugetlb map[string]HugetlbStats
}

// CPUStats is the CPU time consumed by the cgroup since its creation.
type CPUStats struct {
	// UsageNS is the total CPU time, in nanoseconds.
	UsageNS uint64
	// KernelNS is the time spent in kernel mode, in nanoseconds.
	KernelNS uint64
	// UserNS is the time spent in user mode, in nanoseconds.
	UserNS uint64
	// PerCPUNS is the total CPU time per CPU, in nanoseconds (cgroup v1
	// only).
	PerCPUNS []uint64
	// Periods counts the CFS enforcement periods that elapsed.
	Periods uint64
	// ThrottledPeriods counts the periods in which the quota ran out.
	ThrottledPeriods uint64
	// ThrottledNS is the total time throttled, in nanoseconds.
	ThrottledNS uint64
}

// MemoryStats describes the memory of the cgroup, in bytes.
type MemoryStats struct {
	// Usage is the current usage (v1 memory.usage_in_bytes, v2
	// memory.current), page cache included.
	Usage uint64
	// MaxUsage is the peak usage (v1 memory.max_usage_in_bytes, v2
	// memory.peak where the kernel has it).
	MaxUsage uint64
	// Limit is the memory limit; 0 means no limit.
	Limit uint64
	// SwapUsage is the memory+swap usage.
	SwapUsage uint64
	// SwapLimit is the memory+swap limit; 0 means no limit.
	SwapLimit uint64
	// Failcnt counts the times usage hit the limit (v1 memory.failcnt, v2
	// "max" in memory.events).
	Failcnt uint64
	// OOMKills counts the processes the OOM killer killed in the cgroup (v1
	// "oom_kill" in memory.oom_control, v2 "oom_kill" in memory.events).
	OOMKills uint64
	// Stat holds the key/values of memory.stat (e.g. v1
	// "total_inactive_file", v2 "inactive_file", which docker stats
	// subtracts from Usage).
	Stat map[string]uint64
}

// PidsStats counts the tasks (processes and threads) of the cgroup.
type PidsStats struct {
	// Current is the number of tasks.
	Current uint64
	// Limit is pids.max; 0 means no limit.
	Limit uint64
}

// BlkIOStats is the block I/O done by the cgroup.
type BlkIOStats struct {
	// ReadBytes is the total of bytes read, over all devices.
	ReadBytes uint64
	// WriteBytes is the total of bytes written, over all devices.
	WriteBytes uint64
	// ReadOps counts the read operations, over all devices.
	ReadOps uint64
	// WriteOps counts the write operations, over all devices.
	WriteOps uint64
	// ServiceBytes is bytes per device and operation, as in Docker's
	// io_service_bytes_recursive.
	ServiceBytes []BlkIOEntry
	// Serviced is operations per device and operation, as in Docker's
	// io_serviced_recursive.
	Serviced []BlkIOEntry
}

// BlkIOEntry is one per-device I/O counter.
type BlkIOEntry struct {
	// Major is the device's major number.
	Major uint64
	// Minor is the device's minor number.
	Minor uint64
	// Op is the operation: "Read", "Write", "Sync", "Async", "Discard" or
	// "Total" (v1 spellings; v2 counters are mapped to Read, Write and
	// Discard).
	Op string
	// Value is the counter.
	Value uint64
}

// HugetlbStats is the hugepage usage for one page size, in bytes.
type HugetlbStats struct {
	// Usage is the current usage.
	Usage uint64
	// MaxUsage is the peak usage (cgroup v1 only).
	MaxUsage uint64
	// Failcnt counts allocations that failed because of the limit.
	Failcnt uint64
}

// unlimited turns the kernel's "no limit" values (v1: a huge page-aligned
// number, v2: "max", read as MaxUint64) into 0.
func unlimited(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// convertStats converts the library's statistics (Failcnt and OOMKills are
// filled in by the managers).
func convertStats(st *cgroups.Stats) *Stats {
	cpu := st.CpuStats
	mem := st.MemoryStats
	out := &Stats{
		CPU: CPUStats{
			UsageNS:          cpu.CpuUsage.TotalUsage,
			KernelNS:         cpu.CpuUsage.UsageInKernelmode,
			UserNS:           cpu.CpuUsage.UsageInUsermode,
			PerCPUNS:         cpu.CpuUsage.PercpuUsage,
			Periods:          cpu.ThrottlingData.Periods,
			ThrottledPeriods: cpu.ThrottlingData.ThrottledPeriods,
			ThrottledNS:      cpu.ThrottlingData.ThrottledTime,
		},
		Memory: MemoryStats{
			Usage:     mem.Usage.Usage,
			MaxUsage:  mem.Usage.MaxUsage,
			Limit:     unlimited(mem.Usage.Limit),
			SwapUsage: mem.SwapUsage.Usage,
			SwapLimit: unlimited(mem.SwapUsage.Limit),
			Stat:      maps.Clone(mem.Stats),
		},
		Pids: PidsStats{
			Current: st.PidsStats.Current,
			Limit:   unlimited(st.PidsStats.Limit),
		},
		Hugetlb: convertHugetlb(st.HugetlbStats),
	}
	b := &out.BlkIO
	b.ServiceBytes = convertBlkio(st.BlkioStats.IoServiceBytesRecursive)
	b.Serviced = convertBlkio(st.BlkioStats.IoServicedRecursive)
	b.ReadBytes, b.WriteBytes = sumOps(b.ServiceBytes)
	b.ReadOps, b.WriteOps = sumOps(b.Serviced)
	return out
}

func convertHugetlb(in map[string]cgroups.HugetlbStats) map[string]HugetlbStats {
	out := make(map[string]HugetlbStats, len(in))
	for size, h := range in {
		out[size] = HugetlbStats{Usage: h.Usage, MaxUsage: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func convertBlkio(in []cgroups.BlkioStatEntry) []BlkIOEntry {
	out := make([]BlkIOEntry, 0, len(in))
	for _, e := range in {
		out = append(out, BlkIOEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

func sumOps(in []BlkIOEntry) (read, write uint64) {
	for _, e := range in {
		switch strings.ToLower(e.Op) {
		case "read":
			read += e.Value
		case "write":
			write += e.Value
		}
	}
	return read, write
}

package spec

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// minMemory is the smallest memory limit or reservation Docker accepts
// (6 MiB).
const minMemory = 6 << 20

// cfsPeriod is the CFS period --cpus uses: 100ms in microseconds.
const cfsPeriod = 100000

// applyResources validates the resource options as Docker's
// verifyPlatformContainerResources does (with its error messages), applies
// Docker's adjustments (swap defaults to twice the memory limit; options
// the host's cgroups cannot honour are dropped, as Docker does with a
// warning) and sets linux.resources.memory, cpu, pids and blockIO.
func applyResources(s *specs.Spec, opts Options, h *hostInfo) error {
	mem, err := memoryResources(opts, h)
	if err != nil {
		return err
	}
	cpu, err := cpuResources(opts, h)
	if err != nil {
		return err
	}
	r := s.Linux.Resources
	r.Memory = mem
	r.CPU = cpu
	if opts.PidsLimit != nil {
		limit := *opts.PidsLimit
		if limit <= 0 {
			// 0 and negative values mean unlimited; runc wants -1.
			limit = -1
		}
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if w := opts.BlkioWeight; w != 0 {
		if w < 10 || w > 1000 {
			//lint:ignore ST1005 Docker's message
			return errors.New("Range of blkio weight is from 10 to 1000")
		}
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return nil
}

// memoryResources returns linux.resources.memory (nil if nothing is set).
func memoryResources(opts Options, h *hostInfo) (*specs.LinuxMemory, error) {
	memory, swap, reservation := opts.Memory, opts.MemorySwap, opts.MemoryReservation
	swappiness := opts.MemorySwappiness
	if swappiness != nil && *swappiness == -1 {
		swappiness = nil
	}
	if memory != 0 && memory < minMemory {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Minimum memory limit allowed is 6MB")
	}
	if memory > 0 && swap == 0 {
		// Docker's default: as much swap as memory.
		swap = 2 * memory
	}
	if memory > 0 && swap != -1 && !h.swapLimit {
		swap = -1
	}
	if memory > 0 && swap > 0 && swap < memory {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if memory == 0 && swap > 0 {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if swappiness != nil && (*swappiness < 0 || *swappiness > 100) {
		//lint:ignore ST1005 Docker's message
		return nil, fmt.Errorf("Invalid value: %v, valid memory swappiness range is 0-100", *swappiness)
	}
	if h.cgroup2 {
		// cgroup v2 has neither memory.swappiness nor oom_control; Docker
		// discards both.
		swappiness = nil
	}
	if reservation != 0 && reservation < minMemory {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Minimum memory reservation allowed is 6MB")
	}
	if memory > 0 && reservation > 0 && memory < reservation {
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Minimum memory limit can not be less than memory reservation limit, see usage")
	}

	var m specs.LinuxMemory
	if memory > 0 {
		m.Limit = &memory
	}
	if reservation > 0 {
		m.Reservation = &reservation
	}
	if swap > 0 {
		m.Swap = &swap
	}
	if swappiness != nil {
		v := uint64(*swappiness)
		m.Swappiness = &v
	}
	if opts.OomKillDisable && !h.cgroup2 {
		t := true
		m.DisableOOMKiller = &t
	}
	if m == (specs.LinuxMemory{}) {
		return nil, nil
	}
	return &m, nil
}

// cpuResources returns linux.resources.cpu (nil if nothing is set).
func cpuResources(opts Options, h *hostInfo) (*specs.LinuxCPU, error) {
	if opts.CPUs < 0 || math.IsNaN(opts.CPUs) || math.IsInf(opts.CPUs, 0) {
		return nil, cpuRangeError(h)
	}
	nano := int64(math.Round(opts.CPUs * 1e9))
	switch {
	case nano > 0 && opts.CPUPeriod > 0:
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	case nano > 0 && opts.CPUQuota > 0:
		//lint:ignore ST1005 Docker's message
		return nil, errors.New("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	case nano > int64(h.numCPU)*1e9:
		return nil, cpuRangeError(h)
	case opts.CPUPeriod != 0 && (opts.CPUPeriod < 1000 || opts.CPUPeriod > 1000000):
		return nil, errors.New("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	case opts.CPUQuota > 0 && opts.CPUQuota < 1000:
		return nil, errors.New("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	case opts.CPUShares < 0:
		return nil, fmt.Errorf("invalid CPU shares (%d): value must be a positive integer", opts.CPUShares)
	}
	if err := checkCpuset("cpus", opts.CpusetCpus, h.cpus); err != nil {
		return nil, err
	}
	if err := checkCpuset("mems", opts.CpusetMems, h.mems); err != nil {
		return nil, err
	}

	var c specs.LinuxCPU
	if opts.CPUShares > 0 {
		shares := uint64(opts.CPUShares)
		c.Shares = &shares
	}
	c.Cpus = opts.CpusetCpus
	c.Mems = opts.CpusetMems
	if nano > 0 {
		period := uint64(cfsPeriod)
		quota := nano * cfsPeriod / 1e9
		c.Period, c.Quota = &period, &quota
	}
	if opts.CPUPeriod != 0 {
		period := uint64(opts.CPUPeriod)
		c.Period = &period
	}
	if opts.CPUQuota != 0 {
		quota := opts.CPUQuota
		c.Quota = &quota
	}
	if c == (specs.LinuxCPU{}) {
		return nil, nil
	}
	return &c, nil
}

// cpuRangeError is Docker's --cpus range message.
func cpuRangeError(h *hostInfo) error {
	//lint:ignore ST1005 Docker's message (capitalised before Docker 28)
	return fmt.Errorf("Range of CPUs is from 0.01 to %[1]d.00, as there are only %[1]d CPUs available", h.numCPU)
}

// checkCpuset validates a --cpuset-cpus or --cpuset-mems list and checks
// that the host has every CPU or node it names (available, in list format;
// empty skips that check).
func checkCpuset(kind, requested, available string) error {
	if requested == "" {
		return nil
	}
	want, err := parseList(requested)
	if err != nil {
		//lint:ignore ST1005 Docker's message
		return fmt.Errorf("Invalid value %s for cpuset %s: %w", requested, kind, err)
	}
	if available == "" {
		return nil
	}
	have, err := parseList(available)
	if err != nil {
		return nil // the host's own list is unreadable: let the kernel decide
	}
	for _, n := range want {
		if !slices.Contains(have, n) {
			what := "CPUs"
			if kind == "mems" {
				what = "memory nodes"
			}
			//lint:ignore ST1005 Docker's message
			return fmt.Errorf("Requested %s are not available - requested %s, available: %s", what, requested, available)
		}
	}
	return nil
}

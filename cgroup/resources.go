package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// plan is an OCI resources object translated for the cgroup library.
type plan struct {
	// res is handed to the library's fs (v1) or fs2 (v2) manager.
	// PidsLimit is always nil: pids.max is written by writePids.
	res *cgroups.Resources
	// pids is the pids.max value to write, if any.
	pids *int64
	// unified holds linux.resources.unified on v1 and hybrid hosts (on v2
	// it stays in res.Unified).
	unified map[string]string
}

// translate converts r for a v1/hybrid (v2 false) or v2 host. It performs the
// checks that do not depend on the cgroup directories.
func translate(r *specs.LinuxResources, v2 bool) (*plan, error) {
	p := &plan{res: &cgroups.Resources{SkipDevices: true}}
	if r == nil {
		return p, nil
	}
	res := p.res
	if len(r.Devices) > 0 {
		rules, err := deviceRules(r.Devices)
		if err != nil {
			return nil, err
		}
		res.Devices = rules
		res.SkipDevices = false
	}
	if m := r.Memory; m != nil {
		// kernel and kernelTCP are ignored, as by runc 1.1 (the kernel
		// deprecated kmem limits); useHierarchy is always on in current
		// kernels.
		res.Memory = deref(m.Limit)
		res.MemoryReservation = deref(m.Reservation)
		res.MemorySwap = deref(m.Swap)
		res.MemorySwappiness = m.Swappiness
		res.OomKillDisable = m.DisableOOMKiller != nil && *m.DisableOOMKiller
		res.MemoryCheckBeforeUpdate = m.CheckBeforeUpdate != nil && *m.CheckBeforeUpdate
	}
	if c := r.CPU; c != nil {
		if err := translateCPU(res, c, v2); err != nil {
			return nil, err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		l := *r.Pids.Limit
		p.pids = &l
	}
	if b := r.BlockIO; b != nil {
		translateBlockIO(res, b)
	}
	for _, h := range r.HugepageLimits {
		res.HugetlbLimit = append(res.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		if v2 {
			return nil, errors.New("cgroup: linux.resources.network needs the net_cls/net_prio controllers, which cgroup v2 does not have")
		}
		if n.ClassID != nil {
			res.NetClsClassid = *n.ClassID
		}
		for _, pr := range n.Priorities {
			res.NetPrioIfpriomap = append(res.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: pr.Name, Priority: int64(pr.Priority)})
		}
	}
	if len(r.Rdma) > 0 {
		res.Rdma = make(map[string]cgroups.LinuxRdma, len(r.Rdma))
		for dev, l := range r.Rdma {
			res.Rdma[dev] = cgroups.LinuxRdma{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
		}
	}
	if len(r.Unified) > 0 {
		for k := range r.Unified {
			if k == "" || strings.Contains(k, "/") || k == "." || k == ".." {
				return nil, fmt.Errorf("cgroup: unified key %q must be a file name", k)
			}
		}
		if v2 {
			res.Unified = maps.Clone(r.Unified)
		} else {
			p.unified = maps.Clone(r.Unified)
		}
	}
	return p, nil
}

func translateCPU(res *cgroups.Resources, c *specs.LinuxCPU, v2 bool) error {
	if c.Shares != nil {
		if v2 {
			res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*c.Shares)
		} else {
			res.CpuShares = *c.Shares
		}
	}
	res.CpuQuota = deref(c.Quota)
	res.CpuPeriod = deref(c.Period)
	res.CpuBurst = c.Burst
	res.CpuRtRuntime = deref(c.RealtimeRuntime)
	res.CpuRtPeriod = deref(c.RealtimePeriod)
	if v2 && (res.CpuRtRuntime != 0 || res.CpuRtPeriod != 0) {
		return errors.New("cgroup: realtime CPU limits (linux.resources.cpu.realtimeRuntime/realtimePeriod) are not supported on cgroup v2")
	}
	res.CpusetCpus = c.Cpus
	res.CpusetMems = c.Mems
	res.CPUIdle = c.Idle
	return nil
}

func translateBlockIO(res *cgroups.Resources, b *specs.LinuxBlockIO) {
	res.BlkioWeight = deref(b.Weight)
	res.BlkioLeafWeight = deref(b.LeafWeight)
	for _, wd := range b.WeightDevice {
		res.BlkioWeightDevice = append(res.BlkioWeightDevice,
			cgroups.NewWeightDevice(wd.Major, wd.Minor, deref(wd.Weight), deref(wd.LeafWeight)))
	}
	throttle := func(in []specs.LinuxThrottleDevice) []*cgroups.ThrottleDevice {
		var out []*cgroups.ThrottleDevice
		for _, td := range in {
			out = append(out, cgroups.NewThrottleDevice(td.Major, td.Minor, td.Rate))
		}
		return out
	}
	res.BlkioThrottleReadBpsDevice = throttle(b.ThrottleReadBpsDevice)
	res.BlkioThrottleWriteBpsDevice = throttle(b.ThrottleWriteBpsDevice)
	res.BlkioThrottleReadIOPSDevice = throttle(b.ThrottleReadIOPSDevice)
	res.BlkioThrottleWriteIOPSDevice = throttle(b.ThrottleWriteIOPSDevice)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// deviceRules converts OCI device cgroup entries. A missing type means all
// devices ("a"), missing major/minor numbers are wildcards, and an empty
// access means "rwm" (as crun does).
func deviceRules(in []specs.LinuxDeviceCgroup) ([]*devconfig.Rule, error) {
	out := make([]*devconfig.Rule, 0, len(in))
	for i, d := range in {
		var t devconfig.Type
		switch d.Type {
		case "", "a":
			t = devconfig.WildcardDevice
		case "b":
			t = devconfig.BlockDevice
		case "c":
			t = devconfig.CharDevice
		default:
			return nil, fmt.Errorf("cgroup: device rule %d: invalid type %q (want a, b or c)", i, d.Type)
		}
		access := d.Access
		if access == "" {
			access = "rwm"
		}
		perms := devconfig.Permissions(access)
		if !perms.IsValid() || strings.Trim(access, "rwm") != "" {
			return nil, fmt.Errorf("cgroup: device rule %d: invalid access %q (a combination of r, w and m)", i, d.Access)
		}
		major, minor := int64(devconfig.Wildcard), int64(devconfig.Wildcard)
		if d.Major != nil {
			major = *d.Major
		}
		if d.Minor != nil {
			minor = *d.Minor
		}
		out = append(out, &devconfig.Rule{Type: t, Major: major, Minor: minor, Permissions: perms, Allow: d.Allow})
	}
	return out, nil
}

// fileExists reports whether dir/name exists.
func fileExists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// trimBlkioV1 drops the blkio weights whose files the v1 blkio cgroup at dir
// lacks (the CFQ scheduler and its weight files are gone from current
// kernels, and BFQ may not be built in): like Docker, which discards them,
// and unlike runc 1.1, which fails on a missing blkio.leaf_weight.
func trimBlkioV1(res *cgroups.Resources, dir string) {
	has := func(names ...string) bool {
		for _, n := range names {
			if fileExists(dir, n) {
				return true
			}
		}
		return false
	}
	if !has("blkio.weight", "blkio.bfq.weight") {
		res.BlkioWeight = 0
	}
	if !has("blkio.leaf_weight") {
		res.BlkioLeafWeight = 0
	}
	weightDev := has("blkio.weight_device", "blkio.bfq.weight_device")
	leafDev := has("blkio.leaf_weight_device")
	res.BlkioWeightDevice = trimWeightDevices(res.BlkioWeightDevice, weightDev, leafDev)
}

// trimBlkioV2 drops the io weight when the cgroup at dir has neither
// io.bfq.weight nor io.weight. The library itself skips per-device weights
// the kernel cannot take, and cgroup v2 has no leaf weights.
func trimBlkioV2(res *cgroups.Resources, dir string) {
	if !fileExists(dir, "io.bfq.weight") && !fileExists(dir, "io.weight") {
		res.BlkioWeight = 0
		res.BlkioWeightDevice = nil
	}
	res.BlkioLeafWeight = 0
}

func trimWeightDevices(in []*cgroups.WeightDevice, weight, leaf bool) []*cgroups.WeightDevice {
	var out []*cgroups.WeightDevice
	for _, wd := range in {
		c := *wd
		if !weight {
			c.Weight = 0
		}
		if !leaf {
			c.LeafWeight = 0
		}
		if c.Weight != 0 || c.LeafWeight != 0 {
			out = append(out, &c)
		}
	}
	return out
}

// writePids writes pids.max exactly as the spec asks: a negative limit is
// "max" (no limit), anything else is written as is, including 0 (the
// library would turn 0 into 1, to match systemd).
func writePids(dir string, limit int64) error {
	val := "max"
	if limit >= 0 {
		val = strconv.FormatInt(limit, 10)
	}
	if err := cgroups.WriteFile(dir, "pids.max", val); err != nil {
		return fmt.Errorf("cgroup: set pids limit: %w", err)
	}
	return nil
}

// v2Controllers lists the cgroup v2 controllers that p needs enabled.
func v2Controllers(p *plan) []string {
	r := p.res
	var out []string
	add := func(ok bool, name string) {
		if ok {
			out = append(out, name)
		}
	}
	add(p.pids != nil, "pids")
	add(r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0, "memory")
	add(r.BlkioWeight != 0 || len(r.BlkioWeightDevice) > 0 || len(r.BlkioThrottleReadBpsDevice) > 0 ||
		len(r.BlkioThrottleWriteBpsDevice) > 0 || len(r.BlkioThrottleReadIOPSDevice) > 0 ||
		len(r.BlkioThrottleWriteIOPSDevice) > 0, "io")
	add(r.CpuWeight != 0 || r.CpuQuota != 0 || r.CpuPeriod != 0 || r.CpuBurst != nil || r.CPUIdle != nil, "cpu")
	add(r.CpusetCpus != "" || r.CpusetMems != "", "cpuset")
	add(len(r.HugetlbLimit) > 0, "hugetlb")
	add(len(r.Rdma) > 0, "rdma")
	return out
}

// unifiedControllers lists the controllers named by the keys of a unified
// map ("memory.high" needs "memory"); the core "cgroup." files need none.
func unifiedControllers(u map[string]string) []string {
	var out []string
	for k := range u {
		c, _, _ := strings.Cut(k, ".")
		if c != "cgroup" && c != "" {
			out = append(out, c)
		}
	}
	return out
}

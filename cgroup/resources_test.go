package cgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestResolvePath(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{in: "/hull/abc", want: "/hull/abc"},
		{in: "abc", want: "/hull/abc"},
		{in: "a/b/", want: "/hull/a/b"},
		{in: "//x//y", want: "/x/y"},
		{in: "", err: "empty"},
		{in: "/", err: "root cgroup"},
		{in: "/a/../b", err: `".."`},
		{in: "../x", err: `".."`},
		{in: "system.slice:docker:abc", err: "systemd cgroup driver is not supported"},
		{in: ":hull:abc", err: "systemd cgroup driver is not supported"},
	} {
		got, err := ResolvePath(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ResolvePath(%q) = %q, %v; want error containing %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ResolvePath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNewSystemdPath(t *testing.T) {
	_, err := New("system.slice:docker:abc", nil)
	if !errors.Is(err, ErrSystemdDriver) {
		t.Fatalf("New(systemd path) error = %v, want ErrSystemdDriver", err)
	}
	if _, err := Load("user.slice:hull:x"); !errors.Is(err, ErrSystemdDriver) {
		t.Fatalf("Load(systemd path) error = %v, want ErrSystemdDriver", err)
	}
}

func TestTranslate(t *testing.T) {
	r := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rw"},
			{Allow: true, Type: "b", Major: ptr(int64(8))},
		},
		Memory: &specs.LinuxMemory{
			Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20)),
			//lint:ignore SA1019 checks that the deprecated field is ignored
			Kernel:     ptr(int64(1 << 20)),
			Swappiness: ptr(uint64(10)), DisableOOMKiller: ptr(true),
		},
		CPU:            &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)), Cpus: "0", Mems: "0"},
		Pids:           &specs.LinuxPids{Limit: ptr(int64(0))},
		BlockIO:        &specs.LinuxBlockIO{Weight: ptr(uint16(500)), WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, LeafWeight: ptr(uint16(20))}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Unified:        map[string]string{"memory.high": "100M"},
	}
	p, err := translate(r, false)
	if err != nil {
		t.Fatal(err)
	}
	res := p.res
	if res.SkipDevices || len(res.Devices) != 3 {
		t.Fatalf("devices: skip=%v rules=%d", res.SkipDevices, len(res.Devices))
	}
	want := []devconfig.Rule{
		{Type: devconfig.WildcardDevice, Major: -1, Minor: -1, Permissions: "rwm", Allow: false},
		{Type: devconfig.CharDevice, Major: 1, Minor: 3, Permissions: "rw", Allow: true},
		{Type: devconfig.BlockDevice, Major: 8, Minor: -1, Permissions: "rwm", Allow: true},
	}
	for i, w := range want {
		if *res.Devices[i] != w {
			t.Errorf("device rule %d = %+v, want %+v", i, *res.Devices[i], w)
		}
	}
	if res.Memory != 64<<20 || res.MemorySwap != 128<<20 || *res.MemorySwappiness != 10 || !res.OomKillDisable {
		t.Errorf("memory: %+v", res)
	}
	if res.CpuShares != 1024 || res.CpuWeight != 0 || res.CpuQuota != 50000 || res.CpuPeriod != 100000 || res.CpusetCpus != "0" {
		t.Errorf("cpu: shares %d weight %d quota %d period %d cpus %q", res.CpuShares, res.CpuWeight, res.CpuQuota, res.CpuPeriod, res.CpusetCpus)
	}
	if p.pids == nil || *p.pids != 0 || res.PidsLimit != nil {
		t.Errorf("pids: plan %v, res %v", p.pids, res.PidsLimit)
	}
	if len(res.HugetlbLimit) != 1 || res.HugetlbLimit[0].Pagesize != "2MB" {
		t.Errorf("hugetlb: %+v", res.HugetlbLimit)
	}
	if res.Unified != nil || p.unified["memory.high"] != "100M" {
		t.Errorf("unified on v1: res %v plan %v", res.Unified, p.unified)
	}

	p2, err := translate(r, true)
	if err != nil {
		t.Fatal(err)
	}
	if p2.res.CpuWeight != 100 || p2.res.CpuShares != 0 {
		t.Errorf("v2 cpu: weight %d shares %d, want 100 and 0", p2.res.CpuWeight, p2.res.CpuShares)
	}
	if p2.res.Unified["memory.high"] != "100M" {
		t.Errorf("v2 unified: %v", p2.res.Unified)
	}

	// Nothing to do.
	p3, err := translate(nil, true)
	if err != nil || !p3.res.SkipDevices || p3.pids != nil {
		t.Errorf("translate(nil): %+v, %v", p3, err)
	}
}

func TestTranslateErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		r    specs.LinuxResources
		v2   bool
		err  string
	}{
		{"device type", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}}, false, "invalid type"},
		{"device access", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Access: "rwx"}}}, false, "invalid access"},
		{"rt on v2", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1000))}}, true, "not supported on cgroup v2"},
		{"net_cls on v2", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}, true, "net_cls"},
		{"unified key", specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, true, "file name"},
	} {
		if _, err := translate(&c.r, c.v2); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestTrimBlkio(t *testing.T) {
	dir := t.TempDir()
	res := &cgroups.Resources{
		BlkioWeight:     500,
		BlkioLeafWeight: 300,
		BlkioWeightDevice: []*cgroups.WeightDevice{
			cgroups.NewWeightDevice(8, 0, 400, 0),
			cgroups.NewWeightDevice(8, 16, 0, 200),
		},
	}
	trimBlkioV1(res, dir) // no weight files at all
	if res.BlkioWeight != 0 || res.BlkioLeafWeight != 0 || len(res.BlkioWeightDevice) != 0 {
		t.Errorf("after trim in an empty dir: %+v", res)
	}
}

func TestDefaultDevices(t *testing.T) {
	rules, err := deviceRules(DefaultDevices())
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 11 || rules[0].Type != devconfig.CharDevice || rules[0].Major != devconfig.Wildcard || rules[0].Permissions != "m" {
		t.Errorf("default device rules: %d, first %+v", len(rules), rules[0])
	}
}

func TestStatsConversion(t *testing.T) {
	st := cgroups.NewStats()
	st.MemoryStats.Usage = cgroups.MemoryData{Usage: 10, Limit: 9223372036854771712}
	st.PidsStats = cgroups.PidsStats{Current: 3, Limit: 10}
	st.BlkioStats.IoServiceBytesRecursive = []cgroups.BlkioStatEntry{
		{Major: 254, Op: "Read", Value: 4096}, {Major: 254, Op: "Write", Value: 100}, {Major: 7, Op: "read", Value: 1}, {Major: 254, Op: "Total", Value: 4196},
	}
	out := convertStats(st)
	if out.Memory.Limit != 0 || out.Memory.Usage != 10 {
		t.Errorf("memory: %+v", out.Memory)
	}
	if out.BlkIO.ReadBytes != 4097 || out.BlkIO.WriteBytes != 100 || len(out.BlkIO.ServiceBytes) != 4 {
		t.Errorf("blkio: %+v", out.BlkIO)
	}
	if out.Pids.Current != 3 || out.Pids.Limit != 10 {
		t.Errorf("pids: %+v", out.Pids)
	}
}

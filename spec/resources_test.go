package spec

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

const mib = 1 << 20

func TestMemory(t *testing.T) {
	noSwap := testHost()
	noSwap.swapLimit = false
	v2 := testHost()
	v2.cgroup2 = true
	tests := []struct {
		name string
		opts Options
		host *hostInfo
		want *specs.LinuxMemory
		err  string
	}{
		{name: "nothing set: no memory section"},
		{name: "-m: swap defaults to twice the memory", opts: Options{Memory: 64 * mib},
			want: &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Swap: ptr[int64](128 * mib)}},
		{name: "-m without swap accounting: swap dropped", host: noSwap, opts: Options{Memory: 64 * mib},
			want: &specs.LinuxMemory{Limit: ptr[int64](64 * mib)}},
		{name: "--memory-swap -1 is unlimited: left out", opts: Options{Memory: 64 * mib, MemorySwap: -1},
			want: &specs.LinuxMemory{Limit: ptr[int64](64 * mib)}},
		{name: "--memory-swap equal to -m disables swap", opts: Options{Memory: 64 * mib, MemorySwap: 64 * mib},
			want: &specs.LinuxMemory{Limit: ptr[int64](64 * mib), Swap: ptr[int64](64 * mib)}},
		{name: "--memory-reservation", opts: Options{MemoryReservation: 32 * mib},
			want: &specs.LinuxMemory{Reservation: ptr[int64](32 * mib)}},
		{name: "--memory-swappiness", opts: Options{MemorySwappiness: ptr[int64](10)},
			want: &specs.LinuxMemory{Swappiness: ptr[uint64](10)}},
		{name: "--memory-swappiness -1 means unset", opts: Options{MemorySwappiness: ptr[int64](-1)}},
		{name: "--memory-swappiness discarded on cgroup v2", host: v2, opts: Options{MemorySwappiness: ptr[int64](10)}},
		{name: "--oom-kill-disable", opts: Options{OomKillDisable: true}, want: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}},
		{name: "--oom-kill-disable discarded on cgroup v2", host: v2, opts: Options{OomKillDisable: true}},
		{name: "-m below 6MB", opts: Options{Memory: 4 * mib}, err: "Minimum memory limit allowed is 6MB"},
		{name: "negative -m", opts: Options{Memory: -5}, err: "Minimum memory limit allowed is 6MB"},
		{name: "exactly 6MB is fine", opts: Options{Memory: 6 * mib, MemorySwap: -1}, want: &specs.LinuxMemory{Limit: ptr[int64](6 * mib)}},
		{name: "swap below memory", opts: Options{Memory: 64 * mib, MemorySwap: 32 * mib},
			err: "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{name: "swap without memory", opts: Options{MemorySwap: 64 * mib},
			err: "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{name: "swappiness out of range", opts: Options{MemorySwappiness: ptr[int64](101)},
			err: "Invalid value: 101, valid memory swappiness range is 0-100"},
		{name: "reservation below 6MB", opts: Options{MemoryReservation: mib}, err: "Minimum memory reservation allowed is 6MB"},
		{name: "memory below reservation", opts: Options{Memory: 64 * mib, MemoryReservation: 128 * mib},
			err: "Minimum memory limit can not be less than memory reservation limit, see usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			if h == nil {
				h = testHost()
			}
			s, err := generate(nil, withCmd(tt.opts), h)
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(s.Linux.Resources.Memory, tt.want) {
				t.Errorf("memory = %s, want %s", fmtJSON(s.Linux.Resources.Memory), fmtJSON(tt.want))
			}
		})
	}
}

func TestCPU(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want *specs.LinuxCPU
		err  string
	}{
		{name: "nothing set: no cpu section"},
		{name: "--cpus 1.5: quota 150000 over period 100000", opts: Options{CPUs: 1.5},
			want: &specs.LinuxCPU{Period: ptr[uint64](100000), Quota: ptr[int64](150000)}},
		{name: "--cpus 0.01", opts: Options{CPUs: 0.01}, want: &specs.LinuxCPU{Period: ptr[uint64](100000), Quota: ptr[int64](1000)}},
		{name: "--cpus all 4 CPUs", opts: Options{CPUs: 4}, want: &specs.LinuxCPU{Period: ptr[uint64](100000), Quota: ptr[int64](400000)}},
		{name: "--cpus above the CPU count", opts: Options{CPUs: 4.5}, err: "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"},
		{name: "--cpus negative", opts: Options{CPUs: -1}, err: "Range of CPUs is from 0.01 to 4.00"},
		{name: "--cpus with --cpu-period", opts: Options{CPUs: 1, CPUPeriod: 50000}, err: "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{name: "--cpus with --cpu-quota", opts: Options{CPUs: 1, CPUQuota: 50000}, err: "Conflicting options: Nano CPUs and CPU Quota cannot both be set"},
		{name: "--cpu-period and --cpu-quota", opts: Options{CPUPeriod: 50000, CPUQuota: 25000},
			want: &specs.LinuxCPU{Period: ptr[uint64](50000), Quota: ptr[int64](25000)}},
		{name: "--cpu-quota -1 is unlimited", opts: Options{CPUQuota: -1}, want: &specs.LinuxCPU{Quota: ptr[int64](-1)}},
		{name: "--cpu-period too small", opts: Options{CPUPeriod: 999}, err: "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"},
		{name: "--cpu-period too large", opts: Options{CPUPeriod: 1000001}, err: "CPU cfs period can not be less than 1ms"},
		{name: "--cpu-quota too small", opts: Options{CPUQuota: 999}, err: "CPU cfs quota can not be less than 1ms (i.e. 1000)"},
		{name: "--cpu-shares", opts: Options{CPUShares: 512}, want: &specs.LinuxCPU{Shares: ptr[uint64](512)}},
		{name: "--cpu-shares negative", opts: Options{CPUShares: -2}, err: "invalid CPU shares (-2): value must be a positive integer"},
		{name: "--cpuset-cpus and --cpuset-mems", opts: Options{CpusetCpus: "0-2,3", CpusetMems: "0"},
			want: &specs.LinuxCPU{Cpus: "0-2,3", Mems: "0"}},
		{name: "--cpuset-cpus not on this host", opts: Options{CpusetCpus: "2-5"},
			err: "Requested CPUs are not available - requested 2-5, available: 0-3"},
		{name: "--cpuset-mems not on this host", opts: Options{CpusetMems: "1"},
			err: "Requested memory nodes are not available - requested 1, available: 0"},
		{name: "--cpuset-cpus malformed", opts: Options{CpusetCpus: "1-"}, err: "Invalid value 1- for cpuset cpus: invalid format: 1-"},
		{name: "--cpuset-cpus reversed range", opts: Options{CpusetCpus: "3-1"}, err: "invalid format: 3-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(tt.opts), testHost())
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(s.Linux.Resources.CPU, tt.want) {
				t.Errorf("cpu = %s, want %s", fmtJSON(s.Linux.Resources.CPU), fmtJSON(tt.want))
			}
		})
	}
}

func TestPidsAndBlkio(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		pids  *specs.LinuxPids
		blkio *specs.LinuxBlockIO
		err   string
	}{
		{name: "nothing set"},
		{name: "--pids-limit", opts: Options{PidsLimit: ptr[int64](100)}, pids: &specs.LinuxPids{Limit: ptr[int64](100)}},
		{name: "--pids-limit 0 is unlimited (-1)", opts: Options{PidsLimit: ptr[int64](0)}, pids: &specs.LinuxPids{Limit: ptr[int64](-1)}},
		{name: "--pids-limit -5 is unlimited (-1)", opts: Options{PidsLimit: ptr[int64](-5)}, pids: &specs.LinuxPids{Limit: ptr[int64](-1)}},
		{name: "--blkio-weight", opts: Options{BlkioWeight: 300}, blkio: &specs.LinuxBlockIO{Weight: ptr[uint16](300)}},
		{name: "--blkio-weight too small", opts: Options{BlkioWeight: 5}, err: "Range of blkio weight is from 10 to 1000"},
		{name: "--blkio-weight too large", opts: Options{BlkioWeight: 1001}, err: "Range of blkio weight is from 10 to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(tt.opts), testHost())
			if !checkErr(t, err, tt.err) {
				return
			}
			if !reflect.DeepEqual(s.Linux.Resources.Pids, tt.pids) {
				t.Errorf("pids = %s, want %s", fmtJSON(s.Linux.Resources.Pids), fmtJSON(tt.pids))
			}
			if !reflect.DeepEqual(s.Linux.Resources.BlockIO, tt.blkio) {
				t.Errorf("blockIO = %s, want %s", fmtJSON(s.Linux.Resources.BlockIO), fmtJSON(tt.blkio))
			}
		})
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		err  string
	}{
		{in: ""},
		{in: "0", want: []int{0}},
		{in: "0-2,5,7-8", want: []int{0, 1, 2, 5, 7, 8}},
		{in: "a", err: "invalid format: a"},
		{in: "1,,2", err: "invalid format"},
		{in: "-1", err: "invalid format"},
		{in: "0-9000", err: "value of out range, maximum is 8192"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseList(tt.in)
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseList(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

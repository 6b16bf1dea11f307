package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// updateFlags are runc update's flags.
type updateFlags struct {
	resources                             string
	memory, memorySwap, memoryReservation string
	cpuPeriod, cpuQuota, cpuShares        string
	cpusetCpus, cpusetMems                string
	pidsLimit, blkioWeight                string
}

func (rc *runtimeCLI) newUpdateCommand() *cobra.Command {
	var f updateFlags
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER",
		Short: "Update a container's resource limits",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			r, err := f.build(cmd, rc.c.in)
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Update(r))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.resources, "resources", "r", "", `Path to a JSON file of OCI linux.resources ("-" reads stdin)`)
	fl.StringVar(&f.memory, "memory", "", "Memory limit (in bytes, or with a unit: 512m)")
	fl.StringVar(&f.memorySwap, "memory-swap", "", "Memory plus swap limit (-1: unlimited)")
	fl.StringVar(&f.memoryReservation, "memory-reservation", "", "Memory soft limit")
	fl.StringVar(&f.cpuPeriod, "cpu-period", "", "CPU CFS period in microseconds")
	fl.StringVar(&f.cpuQuota, "cpu-quota", "", "CPU CFS quota in microseconds")
	fl.StringVar(&f.cpuShares, "cpu-share", "", "CPU shares (relative weight)")
	fl.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs to run on (0-3, 0,1)")
	fl.StringVar(&f.cpusetMems, "cpuset-mems", "", "Memory nodes to use (0-3, 0,1)")
	fl.StringVar(&f.pidsLimit, "pids-limit", "", "Maximum number of processes")
	fl.StringVar(&f.blkioWeight, "blkio-weight", "", "Block IO weight (10-1000)")
	return cmd
}

// build makes the resources to set: the --resources file, else the
// flags that were given.
func (f *updateFlags) build(cmd *cobra.Command, stdin io.Reader) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if f.resources != "" {
		var b []byte
		var err error
		if f.resources == "-" {
			b, err = io.ReadAll(stdin)
		} else {
			b, err = os.ReadFile(f.resources)
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("parse resources: %w", err)
		}
		return r, nil
	}
	changed := cmd.Flags().Changed
	mem := func(name, v string) (*int64, error) {
		if v == "-1" {
			n := int64(-1)
			return &n, nil
		}
		n, err := units.RAMInBytes(v)
		if err != nil {
			return nil, fmt.Errorf("invalid value for %s: %w", name, err)
		}
		return &n, nil
	}
	for _, m := range []struct {
		flag string
		val  string
		dst  func(*int64)
	}{
		{"memory", f.memory, func(v *int64) { memory(r).Limit = v }},
		{"memory-swap", f.memorySwap, func(v *int64) { memory(r).Swap = v }},
		{"memory-reservation", f.memoryReservation, func(v *int64) { memory(r).Reservation = v }},
	} {
		if changed(m.flag) {
			v, err := mem(m.flag, m.val)
			if err != nil {
				return nil, err
			}
			m.dst(v)
		}
	}
	uint64Flag := func(name, v string) (uint64, error) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid value for %s: %w", name, err)
		}
		return n, nil
	}
	if changed("cpu-period") {
		n, err := uint64Flag("cpu-period", f.cpuPeriod)
		if err != nil {
			return nil, err
		}
		cpu(r).Period = &n
	}
	if changed("cpu-share") {
		n, err := uint64Flag("cpu-share", f.cpuShares)
		if err != nil {
			return nil, err
		}
		cpu(r).Shares = &n
	}
	if changed("cpu-quota") {
		n, err := strconv.ParseInt(f.cpuQuota, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid value for cpu-quota: %w", err)
		}
		cpu(r).Quota = &n
	}
	if changed("cpuset-cpus") {
		cpu(r).Cpus = f.cpusetCpus
	}
	if changed("cpuset-mems") {
		cpu(r).Mems = f.cpusetMems
	}
	if changed("pids-limit") {
		n, err := strconv.ParseInt(f.pidsLimit, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid value for pids-limit: %w", err)
		}
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	if changed("blkio-weight") {
		n, err := strconv.ParseUint(f.blkioWeight, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid value for blkio-weight: %w", err)
		}
		w := uint16(n)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return r, nil
}

func memory(r *specs.LinuxResources) *specs.LinuxMemory {
	if r.Memory == nil {
		r.Memory = &specs.LinuxMemory{}
	}
	return r.Memory
}

func cpu(r *specs.LinuxResources) *specs.LinuxCPU {
	if r.CPU == nil {
		r.CPU = &specs.LinuxCPU{}
	}
	return r.CPU
}

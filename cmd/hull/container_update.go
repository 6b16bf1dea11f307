package main

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"

	units "github.com/docker/go-units"
	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/runtime"
	"github.com/hull-project/hull/spec"
	mobycontainer "github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// memBytes is docker's "bytes" flag type: a size with an optional unit
// ("512m"); with allowUnlimited, -1 too (--memory-swap).
type memBytes struct {
	n              int64
	allowUnlimited bool
}

func (m *memBytes) String() string {
	if m.n <= 0 {
		return strconv.FormatInt(m.n, 10)
	}
	return units.BytesSize(float64(m.n))
}

func (m *memBytes) Set(v string) error {
	if m.allowUnlimited && v == "-1" {
		m.n = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil {
		return err
	}
	m.n = n
	return nil
}

func (m *memBytes) Type() string { return "bytes" }

// nanoCPUs is docker's "decimal" flag type of --cpus: a number of CPUs
// kept in billionths.
type nanoCPUs int64

func (n *nanoCPUs) String() string {
	if *n == 0 {
		return "0"
	}
	return new(big.Rat).SetFrac64(int64(*n), 1e9).FloatString(3)
}

func (n *nanoCPUs) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		return errors.New("value is too precise")
	}
	*n = nanoCPUs(r.Num().Int64())
	return nil
}

func (n *nanoCPUs) Type() string { return "decimal" }

// updateRequest is what `update` was asked; zero values mean "unchanged",
// as in docker's API.
type updateRequest struct {
	memory, memorySwap, memoryReservation memBytes
	cpus                                  nanoCPUs
	cpuShares, cpuQuota, cpuPeriod        int64
	cpusetCpus, cpusetMems                string
	pidsLimit                             *int64
	blkioWeight                           uint16
	restart                               *mobycontainer.RestartPolicy
}

// updateFlagNames are update's flags; at least one must be given.
var updateFlagNames = []string{
	"blkio-weight", "cpu-period", "cpu-quota", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems",
	"memory", "memory-reservation", "memory-swap", "pids-limit", "restart",
}

func newUpdateCommand(c *cli) *cobra.Command {
	var u updateRequest
	u.memorySwap.allowUnlimited = true
	var pidsLimit int64
	var restart string
	cmd := &cobra.Command{
		Use:                   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Update configuration of one or more containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			changed := false
			for _, name := range updateFlagNames {
				changed = changed || cmd.Flags().Changed(name)
			}
			if !changed {
				return errors.New("you must provide one or more flags when using this command")
			}
			if cmd.Flags().Changed("pids-limit") {
				u.pidsLimit = &pidsLimit
			}
			if cmd.Flags().Changed("restart") && restart != "" {
				name, max, err := parseRestart(restart)
				if err != nil {
					return withStatus(1, err)
				}
				u.restart = &mobycontainer.RestartPolicy{Name: mobycontainer.RestartPolicyMode(name), MaximumRetryCount: max}
			}
			if err := u.validate(); err != nil {
				return withStatus(1, err)
			}
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				return updateContainer(cs, rec.ID, &u)
			})
		},
	}
	fs := cmd.Flags()
	fs.Uint16Var(&u.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable")
	fs.Int64Var(&u.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&u.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64VarP(&u.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Var(&u.cpus, "cpus", "Number of CPUs")
	fs.StringVar(&u.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&u.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.VarP(&u.memory, "memory", "m", "Memory limit")
	fs.Var(&u.memoryReservation, "memory-reservation", "Memory soft limit")
	fs.Var(&u.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

// resourceOptions are the spec options of the resources in u alone.
func (u *updateRequest) resourceOptions() spec.Options {
	return spec.Options{
		Memory:            u.memory.n,
		MemorySwap:        u.memorySwap.n,
		MemoryReservation: u.memoryReservation.n,
		CPUs:              float64(u.cpus) / 1e9,
		CPUShares:         u.cpuShares,
		CPUQuota:          u.cpuQuota,
		CPUPeriod:         u.cpuPeriod,
		CpusetCpus:        u.cpusetCpus,
		CpusetMems:        u.cpusetMems,
		PidsLimit:         u.pidsLimit,
		BlkioWeight:       u.blkioWeight,
	}
}

// validate checks the request alone, with the messages of docker's
// daemon (which checks an update the way it checks a new container's
// resources, except that a swap limit may come without a memory limit).
func (u *updateRequest) validate() error {
	o := u.resourceOptions()
	if o.Memory == 0 && o.MemorySwap > 0 {
		o.MemorySwap = 0
	}
	_, err := specResources(o)
	return err
}

// specResources returns the linux.resources (memory, CPU, pids and block
// I/O) that spec.Generate makes of the resource options of o, validated
// with Docker's messages.
func specResources(o spec.Options) (*specs.LinuxResources, error) {
	s, err := spec.Generate(nil, spec.Options{
		Cmd:               []string{"true"},
		Memory:            o.Memory,
		MemorySwap:        o.MemorySwap,
		MemoryReservation: o.MemoryReservation,
		MemorySwappiness:  o.MemorySwappiness,
		CPUs:              o.CPUs,
		CPUShares:         o.CPUShares,
		CPUQuota:          o.CPUQuota,
		CPUPeriod:         o.CPUPeriod,
		CpusetCpus:        o.CpusetCpus,
		CpusetMems:        o.CpusetMems,
		PidsLimit:         o.PidsLimit,
		BlkioWeight:       o.BlkioWeight,
		OomKillDisable:    o.OomKillDisable,
	})
	if err != nil {
		return nil, err
	}
	r := &specs.LinuxResources{}
	if s.Linux != nil && s.Linux.Resources != nil {
		g := s.Linux.Resources
		r.Memory, r.CPU, r.Pids, r.BlockIO = g.Memory, g.CPU, g.Pids, g.BlockIO
	}
	return r, nil
}

// updateContainer applies u to the container id: its record (Docker's
// HostConfig and the options its spec is generated from at each start)
// and, if it runs, its cgroup. It holds the container's lock throughout,
// so a concurrent start sees either the old or the new record.
func updateContainer(cs *container.Store, id string, u *updateRequest) error {
	l, err := cs.Lock(id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	old, err := cs.Read(id)
	if err != nil {
		return err
	}
	//lint:ignore ST1005 Docker's message
	cannot := func(err error) error { return fmt.Errorf("Cannot update container %s: %w", id, err) }
	if old.State.Status == container.Removing || old.State.Status == container.Dead {
		return cannot(errors.New(`container is marked for removal and cannot be "update"`))
	}
	var live *specs.LinuxResources
	rec, err := cs.UpdateLocked(id, func(r *container.Record) error {
		if r.HostConfig == nil {
			r.HostConfig = &mobycontainer.HostConfig{}
		}
		if err := u.merge(r); err != nil {
			return cannot(err)
		}
		res, err := specResources(r.Spec)
		if err != nil {
			return cannot(err)
		}
		live = res
		return nil
	})
	if err != nil {
		return err
	}
	if !rec.State.Status.Alive() {
		return nil
	}
	rc, err := cs.Runtime().Load(id)
	if err != nil {
		return nil // not running (a restart will use the new record)
	}
	if err := rc.Update(live); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
		// Put the old record back, as docker restores the old HostConfig.
		if _, rerr := cs.UpdateLocked(id, func(r *container.Record) error {
			r.HostConfig, r.Spec = old.HostConfig, old.Spec
			return nil
		}); rerr != nil {
			return errors.Join(cannot(err), rerr)
		}
		return cannot(err)
	}
	return nil
}

// merge applies u to r's HostConfig and spec options, with the checks
// of docker's Container.UpdateContainer.
func (u *updateRequest) merge(r *container.Record) error {
	hc := r.HostConfig
	res := &hc.Resources
	o := &r.Spec
	switch {
	case u.cpus > 0 && res.CPUPeriod > 0:
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case u.cpus > 0 && res.CPUQuota > 0:
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case u.cpuPeriod > 0 && res.NanoCPUs > 0:
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case u.cpuQuota > 0 && res.NanoCPUs > 0:
		//lint:ignore ST1005 Docker's message
		return errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	}
	if u.blkioWeight != 0 {
		res.BlkioWeight, o.BlkioWeight = u.blkioWeight, u.blkioWeight
	}
	if u.cpuShares != 0 {
		res.CPUShares, o.CPUShares = u.cpuShares, u.cpuShares
	}
	if u.cpus != 0 {
		res.NanoCPUs = int64(u.cpus)
		o.CPUs = float64(u.cpus) / 1e9
	}
	if u.cpuPeriod != 0 {
		res.CPUPeriod, o.CPUPeriod = u.cpuPeriod, u.cpuPeriod
	}
	if u.cpuQuota != 0 {
		res.CPUQuota, o.CPUQuota = u.cpuQuota, u.cpuQuota
	}
	if u.cpusetCpus != "" {
		res.CpusetCpus, o.CpusetCpus = u.cpusetCpus, u.cpusetCpus
	}
	if u.cpusetMems != "" {
		res.CpusetMems, o.CpusetMems = u.cpusetMems, u.cpusetMems
	}
	if m := u.memory.n; m != 0 {
		if res.MemorySwap > 0 && m > res.MemorySwap && u.memorySwap.n == 0 {
			//lint:ignore ST1005 Docker's message
			return errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
		}
		res.Memory, o.Memory = m, m
	}
	if s := u.memorySwap.n; s != 0 {
		res.MemorySwap, o.MemorySwap = s, s
	}
	if m := u.memoryReservation.n; m != 0 {
		res.MemoryReservation, o.MemoryReservation = m, m
	}
	if u.pidsLimit != nil {
		p := *u.pidsLimit
		res.PidsLimit, o.PidsLimit = &p, &p
	}
	if p := u.restart; p != nil {
		if p.Name != mobycontainer.RestartPolicyDisabled && hc.AutoRemove {
			//lint:ignore ST1005 Docker's message
			return errors.New("Restart policy cannot be updated because AutoRemove is enabled for the container")
		}
		hc.RestartPolicy = *p
	}
	return nil
}

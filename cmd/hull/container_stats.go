package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/container"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeader = map[string]string{
	"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
	"PIDs": "PIDS",
}

// statsInterval is how far apart the samples are taken (docker's daemon
// collects every second).
const statsInterval = time.Second

type statsOptions struct {
	all, noStream, noTrunc bool
	format                 string
	containers             []string
}

func newStatsCommand(c *cli) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:                   "stats [OPTIONS] [CONTAINER...]",
		Short:                 "Display a live stream of container(s) resource usage statistics",
		Args:                  cobra.ArbitraryArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.containers = args
			return c.stats(cmd.Context(), &o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	fs.StringVar(&o.format, "format", "", formatHelp)
	fs.BoolVar(&o.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Do not truncate output")
	return cmd
}

// statsTarget is one container stats shows.
type statsTarget struct {
	ref string // as the user named it (the short ID when listing)
	id  string
}

// statsSample is one reading of a container's counters.
type statsSample struct {
	running bool
	err     error
	// cpu is the container's CPU time and system the host's, in ns.
	cpu, system uint64
	online      uint32
	st          *cgroup.Stats
	rx, tx      uint64
	at          time.Time
}

func (c *cli) stats(ctx context.Context, o *statsOptions) error {
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	format := o.format
	if format == "" || format == tableFormatKey {
		format = defaultStatsFormat
	}
	// targets lists the containers to show: those named (fixed), or the
	// running (all with -a) ones, listed again at each refresh.
	var fixed []statsTarget
	if len(o.containers) > 0 {
		var errs []error
		for _, ref := range o.containers {
			rec, err := cs.Get(ref)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			fixed = append(fixed, statsTarget{ref: ref, id: rec.ID})
		}
		if len(errs) > 0 {
			return withStatus(1, errs...)
		}
	}
	targets := func() ([]statsTarget, error) {
		if fixed != nil {
			return fixed, nil
		}
		recs, err := cs.List()
		if err != nil {
			return nil, err
		}
		var out []statsTarget
		for i := len(recs) - 1; i >= 0; i-- { // oldest first, as containers start
			r := recs[i]
			if o.all || r.State.Status.Alive() {
				out = append(out, statsTarget{ref: r.ShortID(), id: r.ID})
			}
		}
		return out, nil
	}
	sampleAll := func(ts []statsTarget) map[string]statsSample {
		out := make(map[string]statsSample, len(ts))
		for _, t := range ts {
			out[t.id] = sampleContainer(cs, t.id)
		}
		return out
	}
	ts, err := targets()
	if err != nil {
		return err
	}
	prev := sampleAll(ts)
	first := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
		if !o.noStream {
			if ts, err = targets(); err != nil {
				return err
			}
		}
		cur := sampleAll(ts)
		var rows []any
		for _, t := range ts {
			rows = append(rows, newStatsRow(cs, t, prev[t.id], cur[t.id], !o.noTrunc))
		}
		prev = cur
		var buf bytes.Buffer
		if err := (formatter{out: &buf, format: format, header: statsHeader}).write(rows); err != nil {
			return err
		}
		if o.noStream {
			_, err := buf.WriteTo(c.out)
			return err
		}
		// Redraw in place, as docker does: home the cursor, erase the
		// rest of each line and what is left below.
		var screen bytes.Buffer
		if first {
			screen.WriteString("\033[2J")
			first = false
		}
		screen.WriteString("\033[H")
		for _, line := range strings.SplitAfter(buf.String(), "\n") {
			if line == "" {
				continue
			}
			screen.WriteString(strings.TrimSuffix(line, "\n") + "\033[K\n")
		}
		screen.WriteString("\033[J")
		if _, err := screen.WriteTo(c.out); err != nil {
			return err
		}
	}
}

// sampleContainer reads the counters of the container id: its cgroup's
// statistics and its network interfaces'. A container that is not running
// gives an empty sample.
func sampleContainer(cs *container.Store, id string) statsSample {
	s := statsSample{at: time.Now()}
	rec, err := cs.Get(id)
	if err != nil || !rec.State.Status.Alive() {
		return s
	}
	cgPath := rec.Spec.CgroupsPath
	if rc, err := cs.Runtime().Load(id); err == nil {
		if sp := rc.Config(); sp != nil && sp.Linux != nil && sp.Linux.CgroupsPath != "" {
			cgPath = sp.Linux.CgroupsPath
		}
	} else if rec.State.Status == container.Restarting {
		return s
	}
	if cgPath == "" {
		cgPath = cgroup.DefaultParent + "/" + id
	}
	m, err := cgroup.Load(cgPath)
	if err != nil {
		if rec.State.Status == container.Restarting {
			return s
		}
		s.err = err
		return s
	}
	st, err := m.Stats()
	if err != nil {
		s.err = err
		return s
	}
	s.running = true
	s.st = st
	s.cpu = st.CPU.UsageNS
	s.system, s.online = systemCPUUsage()
	if rec.State.Pid > 0 && (rec.HostConfig == nil || rec.HostConfig.NetworkMode != "host") {
		s.rx, s.tx = netIO(rec.State.Pid)
	}
	return s
}

// systemCPUUsage returns the host's CPU time in ns (the first line of
// /proc/stat, as docker's daemon computes it) and the number of CPUs.
func systemCPUUsage() (uint64, uint32) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	const clockTicks = 100 // USER_HZ
	var usage uint64
	var cpus uint32
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) == 0 || !strings.HasPrefix(parts[0], "cpu") {
			continue
		}
		if parts[0] != "cpu" {
			cpus++
			continue
		}
		if len(parts) < 8 {
			return 0, 0
		}
		var ticks uint64
		for _, v := range parts[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, 0
			}
			ticks += n
		}
		usage = ticks * uint64(time.Second) / clockTicks
	}
	return usage, cpus
}

// netIO sums the bytes received and sent by the network interfaces of
// the network namespace of pid, loopback left out (as docker counts only
// the container's endpoints).
func netIO(pid int) (rx, tx uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0
	}
	return parseNetDev(b)
}

func parseNetDev(b []byte) (rx, tx uint64) {
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(name, "|") {
			continue
		}
		if strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx += r
		tx += t
	}
	return rx, tx
}

// hostMemory is the host's total memory, the limit docker shows for
// containers without one.
func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// statsRow is one line of stats; its methods are the --format
// placeholders.
type statsRow struct {
	container, id, name string
	trunc, invalid      bool
	cpuPerc, memPerc    float64
	mem, memLimit       float64
	netRx, netTx        float64
	blkRead, blkWrite   float64
	pids                uint64
}

// newStatsRow computes what docker's CLI shows from two samples.
func newStatsRow(cs *container.Store, t statsTarget, prev, cur statsSample, trunc bool) *statsRow {
	r := &statsRow{container: t.ref, id: t.id, trunc: trunc}
	if rec, err := cs.Read(t.id); err == nil {
		r.name = rec.Name
	}
	if cur.err != nil {
		r.invalid = true
		return r
	}
	if !cur.running {
		return r
	}
	st := cur.st
	if prev.running {
		r.cpuPerc = cpuPercent(prev.cpu, cur.cpu, prev.system, cur.system, cur.online)
	}
	r.mem = float64(memUsageNoCache(st.Memory))
	limit := st.Memory.Limit
	if host := hostMemory(); limit == 0 || (host > 0 && limit > host) {
		limit = host
	}
	r.memLimit = float64(limit)
	if limit > 0 {
		r.memPerc = r.mem / r.memLimit * 100
	}
	r.netRx, r.netTx = float64(cur.rx), float64(cur.tx)
	r.blkRead, r.blkWrite = float64(st.BlkIO.ReadBytes), float64(st.BlkIO.WriteBytes)
	r.pids = st.Pids.Current
	return r
}

// cpuPercent is docker's calculateCPUPercentUnix.
func cpuPercent(prevCPU, curCPU, prevSystem, curSystem uint64, online uint32) float64 {
	cpuDelta := float64(curCPU) - float64(prevCPU)
	systemDelta := float64(curSystem) - float64(prevSystem)
	if systemDelta > 0 && cpuDelta > 0 {
		return cpuDelta / systemDelta * float64(online) * 100
	}
	return 0
}

// memUsageNoCache is the memory usage without the inactive page cache,
// as docker's CLI computes it (v1 total_inactive_file, v2 inactive_file).
func memUsageNoCache(m cgroup.MemoryStats) uint64 {
	if v, ok := m.Stat["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stat["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// MarshalJSON renders the row as docker's {{json .}} does.
func (r *statsRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// Container is the container as the user named it.
func (r *statsRow) Container() string { return r.container }

// ID is the container ID.
func (r *statsRow) ID() string {
	if r.trunc {
		return container.ShortID(r.id)
	}
	return r.id
}

// Name is the container's name.
func (r *statsRow) Name() string {
	if r.name == "" {
		return "--"
	}
	return r.name
}

// CPUPerc is the CPU usage in percent of one CPU.
func (r *statsRow) CPUPerc() string {
	if r.invalid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", r.cpuPerc)
}

// MemUsage is the memory usage and limit.
func (r *statsRow) MemUsage() string {
	if r.invalid {
		return "-- / --"
	}
	return units.BytesSize(r.mem) + " / " + units.BytesSize(r.memLimit)
}

// MemPerc is the memory usage in percent of the limit.
func (r *statsRow) MemPerc() string {
	if r.invalid {
		return "--"
	}
	return fmt.Sprintf("%.2f%%", r.memPerc)
}

// NetIO is the network traffic received and sent.
func (r *statsRow) NetIO() string {
	if r.invalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.netRx, 3) + " / " + units.HumanSizeWithPrecision(r.netTx, 3)
}

// BlockIO is the block I/O read and written.
func (r *statsRow) BlockIO() string {
	if r.invalid {
		return "--"
	}
	return units.HumanSizeWithPrecision(r.blkRead, 3) + " / " + units.HumanSizeWithPrecision(r.blkWrite, 3)
}

// PIDs is the number of processes and threads.
func (r *statsRow) PIDs() string {
	if r.invalid {
		return "--"
	}
	return strconv.FormatUint(r.pids, 10)
}

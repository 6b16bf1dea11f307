package main

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/hull-project/hull/cgroup"
)

func TestStatsComputation(t *testing.T) {
	if got := cpuPercent(1e9, 2e9, 10e9, 14e9, 4); math.Abs(got-100) > 1e-9 {
		t.Errorf("cpuPercent = %v, want 100", got)
	}
	if got := cpuPercent(5, 5, 10, 20, 2); got != 0 {
		t.Errorf("cpuPercent without usage = %v", got)
	}
	v1 := cgroup.MemoryStats{Usage: 1000, Stat: map[string]uint64{"total_inactive_file": 300, "inactive_file": 100}}
	v2 := cgroup.MemoryStats{Usage: 1000, Stat: map[string]uint64{"inactive_file": 100}}
	if memUsageNoCache(v1) != 700 || memUsageNoCache(v2) != 900 || memUsageNoCache(cgroup.MemoryStats{Usage: 5}) != 5 {
		t.Errorf("memUsageNoCache: %d %d", memUsageNoCache(v1), memUsageNoCache(v2))
	}
	netDev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
  eth1:      24       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0
`
	if rx, tx := parseNetDev([]byte(netDev)); rx != 1024 || tx != 2006 {
		t.Errorf("parseNetDev = %d, %d", rx, tx)
	}

	r := &statsRow{container: "web", id: strings.Repeat("ab", 32), name: "web", trunc: true, cpuPerc: 12.345,
		mem: 1.5 * 1024 * 1024, memLimit: 64 * 1024 * 1024, memPerc: 2.34375, netRx: 1500, netTx: 0,
		blkRead: 4096, blkWrite: 1e6, pids: 3}
	var buf strings.Builder
	if err := (formatter{out: &buf, format: defaultStatsFormat, header: statsHeader}).write([]any{r}); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O     PIDS\n" +
		"abababababab   web       12.35%    1.5MiB / 64MiB      2.34%     1.5kB / 0B   4.1kB / 1MB   3\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
	b, err := json.Marshal(r)
	if err != nil || string(b) != `{"BlockIO":"4.1kB / 1MB","CPUPerc":"12.35%","Container":"web","ID":"abababababab","MemPerc":"2.34%","MemUsage":"1.5MiB / 64MiB","Name":"web","NetIO":"1.5kB / 0B","PIDs":"3"}` {
		t.Errorf("json: %s %v", b, err)
	}
	bad := &statsRow{container: "x", id: "x", invalid: true}
	if bad.CPUPerc() != "--" || bad.MemUsage() != "-- / --" || bad.PIDs() != "--" || bad.Name() != "--" {
		t.Errorf("invalid row: %s %s %s %s", bad.CPUPerc(), bad.MemUsage(), bad.PIDs(), bad.Name())
	}
}

func TestContainerStats(t *testing.T) {
	e := newLC(t)
	e.must("run", "-d", "--name", "st-run", "-m", "64m", "busybox", "sleep", "100")
	e.must("create", "--name", "st-new", "busybox")
	id := e.record("st-run").ID

	r := e.must("stats", "--no-stream")
	ls := lines(r.stdout)
	header := regexp.MustCompile(`^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$`)
	if len(ls) != 2 || !header.MatchString(ls[0]) {
		t.Fatalf("stats --no-stream (running only):\n%s", r.stdout)
	}
	row := regexp.MustCompile(`^` + id[:12] + ` +st-run +\d+\.\d\d% +[\d.]+[KM]?i?B / 64MiB +\d+\.\d\d% +[\d.]+[kMG]?B / [\d.]+[kMG]?B +\S+ / \S+ +1$`)
	if !row.MatchString(ls[1]) {
		t.Errorf("row %q", ls[1])
	}

	r = e.must("stats", "--no-stream", "-a", "--format", "{{.Name}}: {{.MemUsage}} {{.PIDs}}")
	if ls := lines(r.stdout); len(ls) != 2 || !strings.HasPrefix(ls[0], "st-run: ") || ls[1] != "st-new: 0B / 0B 0" {
		t.Errorf("stats -a --format:\n%s", r.stdout)
	}
	r = e.must("container", "stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Container}}", "st-run")
	if r.stdout != id+" st-run\n" {
		t.Errorf("--no-trunc: %q", r.stdout)
	}
	r = e.must("stats", "--no-stream", "--format", "json", id[:8])
	var m map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || m["Name"] != "st-run" || m["Container"] != id[:8] || !strings.HasSuffix(m["MemUsage"], " / 64MiB") {
		t.Errorf("json: %v %q", err, r.stdout)
	}
	if r := e.hull("stats", "--no-stream", "st-run", "nosuch"); r.code != 1 || r.stdout != "" || r.stderr != "Error: No such container: nosuch\n" {
		t.Errorf("missing container:\n%v", r)
	}
}

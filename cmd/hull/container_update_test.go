package main

import (
	"strings"
	"testing"

	"github.com/hull-project/hull/cgroup"
)

func TestUpdateFlagValues(t *testing.T) {
	var n nanoCPUs
	if err := n.Set("1.5"); err != nil || n != 1.5e9 {
		t.Errorf("--cpus 1.5: %v %d", err, n)
	}
	if err := n.Set("x"); err == nil || err.Error() != "failed to parse x as a rational number" {
		t.Errorf("--cpus x: %v", err)
	}
	if err := n.Set("0.0000000001"); err == nil || err.Error() != "value is too precise" {
		t.Errorf("too precise: %v", err)
	}
	m := memBytes{}
	if err := m.Set("64m"); err != nil || m.n != 64<<20 {
		t.Errorf("64m: %v %d", err, m.n)
	}
	if err := m.Set("-1"); err == nil {
		t.Error("-1 accepted for --memory")
	}
	swap := memBytes{allowUnlimited: true}
	if err := swap.Set("-1"); err != nil || swap.n != -1 {
		t.Errorf("--memory-swap -1: %v %d", err, swap.n)
	}

	for _, tc := range []struct {
		u   updateRequest
		err string
	}{
		{updateRequest{memory: memBytes{n: 4 << 20}}, "Minimum memory limit allowed is 6MB"},
		{updateRequest{memoryReservation: memBytes{n: 1 << 20}}, "Minimum memory reservation allowed is 6MB"},
		{updateRequest{memory: memBytes{n: 64 << 20}, memorySwap: memBytes{n: 32 << 20}}, "Minimum memoryswap limit should be larger than memory limit, see usage"},
		{updateRequest{cpus: 1e9, cpuPeriod: 100000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"},
		{updateRequest{blkioWeight: 5}, "Range of blkio weight is from 10 to 1000"},
		{updateRequest{memorySwap: memBytes{n: 64 << 20}}, ""}, // swap alone is fine for an update
		{updateRequest{memory: memBytes{n: 64 << 20}, cpuShares: 512}, ""},
	} {
		err := tc.u.validate()
		if (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%+v: %v, want %q", tc.u, err, tc.err)
		}
	}
}

func TestContainerUpdate(t *testing.T) {
	e := newLC(t)
	e.must("run", "-d", "--name", "upd", "busybox", "sleep", "100")
	rec := e.record("upd")

	r := e.must("update", "-m", "64m", "--cpus", "0.5", "--pids-limit", "40", "--cpu-shares", "512", "upd")
	if r.stdout != "upd\n" || r.stderr != "" {
		t.Fatalf("update:\n%v", r)
	}
	m, err := cgroup.Load(rec.Spec.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Memory.Limit != 64<<20 || st.Pids.Limit != 40 {
		t.Errorf("cgroup: memory limit %d, pids limit %d", st.Memory.Limit, st.Pids.Limit)
	}
	r = e.must("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}}", "upd")
	if r.stdout != "67108864 500000000 40 512\n" {
		t.Errorf("inspect after update: %q", r.stdout)
	}
	if o := e.record("upd").Spec; o.Memory != 64<<20 || o.CPUs != 0.5 || o.PidsLimit == nil || *o.PidsLimit != 40 || o.CPUShares != 512 {
		t.Errorf("spec options: %+v", o)
	}

	// Errors.
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"update", "-m", "4m", "upd"}, 1, "Error: Minimum memory limit allowed is 6MB\n"},
		{[]string{"update", "upd"}, 125, "Error: you must provide one or more flags when using this command\n"},
		{[]string{"update", "--cpu-period", "100000", "upd"}, 1, "Error: Cannot update container " + rec.ID + ": Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set\n"},
		{[]string{"update", "-m", "1g", "nosuch"}, 1, "Error: No such container: nosuch\n"},
		{[]string{"update", "--restart", "sometimes", "upd"}, 1, "Error: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'\n"},
	} {
		if r := e.hull(tc.args...); r.code != tc.code || r.stdout != "" || r.stderr != tc.stderr {
			t.Errorf("want exit %d, stderr %q:\n%v", tc.code, tc.stderr, r)
		}
	}
	if r := e.hull("update", "-m", "abc", "upd"); r.code != 125 || !strings.HasPrefix(r.stderr, `invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`) {
		t.Errorf("bad size:\n%v", r)
	}

	// --rm containers keep "no".
	e.must("run", "-d", "--rm", "--name", "upd-rm", "busybox", "sleep", "100")
	rmID := e.record("upd-rm").ID
	if r := e.hull("update", "--restart", "always", "upd-rm"); r.code != 1 || r.stderr != "Error: Cannot update container "+rmID+": Restart policy cannot be updated because AutoRemove is enabled for the container\n" {
		t.Errorf("--restart with --rm:\n%v", r)
	}
	e.must("update", "--restart", "no", "upd-rm")

	// A stopped container gets the new limits at its next start.
	e.must("stop", "-t", "0", "upd")
	e.must("update", "-m", "32m", "--restart", "on-failure:3", "upd")
	e.must("start", "upd")
	m, err = cgroup.Load(e.record("upd").Spec.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if st, err = m.Stats(); err != nil || st.Memory.Limit != 32<<20 || st.Pids.Limit != 40 {
		t.Errorf("after restart: %v, memory limit %d, pids limit %d", err, st.Memory.Limit, st.Pids.Limit)
	}
	if r := e.must("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}}", "upd"); r.stdout != "on-failure:3 33554432\n" {
		t.Errorf("inspect: %q", r.stdout)
	}
	// Several containers: each name is printed.
	if r := e.must("container", "update", "--memory-reservation", "16m", "upd", "upd-rm"); r.stdout != "upd\nupd-rm\n" {
		t.Errorf("two containers: %q", r.stdout)
	}
}

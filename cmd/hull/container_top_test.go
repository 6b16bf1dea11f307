package main

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParsePSOutput(t *testing.T) {
	out := "UID        PID  PPID  C STIME TTY          TIME CMD\n" +
		"root         1     0  0 07:50 ?        00:01:01 /sbin/init splash\n" +
		"root       100     1  0 07:51 ?        00:00:00 sleep 100\n" +
		"root       101   100  0 07:51 ?        00:00:00 sh -c  while :; do :; done\n"
	got, err := parsePSOutput([]byte(out), []int{100, 101})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Titles, []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}) {
		t.Errorf("titles %q", got.Titles)
	}
	want := [][]string{
		{"root", "100", "1", "0", "07:51", "?", "00:00:00", "sleep 100"},
		{"root", "101", "100", "0", "07:51", "?", "00:00:00", "sh -c while :; do :; done"},
	}
	if len(got.Processes) != len(want) {
		t.Fatalf("processes %q", got.Processes)
	}
	for i := range want {
		if !slices.Equal(got.Processes[i], want[i]) {
			t.Errorf("process %d: %q, want %q", i, got.Processes[i], want[i])
		}
	}

	// Thread lines ("-" PIDs, ps -m) follow their process.
	threads := "PID TTY TIME CMD\n100 ? 00:00:00 sleep\n- - 00:00:00 -\n200 ? 00:00:00 other\n- - 00:00:00 -\n"
	got, err = parsePSOutput([]byte(threads), []int{100})
	if err != nil || len(got.Processes) != 2 || got.Processes[1][0] != "-" {
		t.Errorf("threads: %v %q", err, got)
	}

	if _, err := parsePSOutput([]byte("USER COMMAND\nroot sh\n"), nil); err == nil || err.Error() != "Couldn't find PID field in ps output" {
		t.Errorf("no PID column: %v", err)
	}
	if _, err := parsePSOutput([]byte("PID CMD\nabc sh\n"), nil); err == nil || !strings.HasPrefix(err.Error(), "Unexpected pid 'abc'") {
		t.Errorf("bad pid: %v", err)
	}
}

func TestValidatePSArgs(t *testing.T) {
	for args, ok := range map[string]bool{
		"-ef": true, "aux": true, "-o pid=PID,comm": true, "-o pid,comm": true,
		"-o user=PID,comm": false, "-o comm= PIDX": false,
	} {
		if err := validatePSArgs(args); (err == nil) != ok {
			t.Errorf("%q: %v", args, err)
		}
	}
	if err := validatePSArgs("-o user=PID"); err == nil || err.Error() != `specifying "user=PID" is not allowed` {
		t.Errorf("message: %v", err)
	}
	if got := psPidsArg([]int{1, 22, 333}); got != "-q1,22,333" {
		t.Errorf("psPidsArg: %q", got)
	}
}

func TestContainerTop(t *testing.T) {
	e := newLC(t)
	e.must("run", "-d", "--name", "topper", "busybox", "sleep", "100")
	pid := e.record("topper").State.Pid

	r := e.must("top", "topper")
	ls := lines(r.stdout)
	if len(ls) != 2 || !slices.Equal(strings.Fields(ls[0]), []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}) {
		t.Fatalf("top:\n%s", r.stdout)
	}
	if f := strings.Fields(ls[1]); f[0] != "root" || f[1] != strconv.Itoa(pid) || !strings.HasSuffix(ls[1], "sleep 100") {
		t.Errorf("process line %q (pid %d)", ls[1], pid)
	}
	// ps options after the container.
	r = e.must("container", "top", "topper", "-o", "pid,comm")
	if ls := lines(r.stdout); len(ls) != 2 || !slices.Equal(strings.Fields(ls[0]), []string{"PID", "COMMAND"}) ||
		!slices.Equal(strings.Fields(ls[1]), []string{strconv.Itoa(pid), "sleep"}) {
		t.Errorf("top -o pid,comm:\n%s", r.stdout)
	}
	// Columns are padded to 20 like docker's.
	if !strings.HasPrefix(r.stdout, "PID                 COMMAND\n") {
		t.Errorf("layout: %q", r.stdout)
	}

	id := e.record("topper").ID
	e.must("stop", "-t", "0", "topper")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"top", "topper"}, "Error: container " + id + " is not running\n"},
		{[]string{"top", "nosuch"}, "Error: No such container: nosuch\n"},
	} {
		if r := e.hull(tc.args...); r.code != 1 || r.stdout != "" || r.stderr != tc.stderr {
			t.Errorf("want exit 1, stderr %q:\n%v", tc.stderr, r)
		}
	}
	if r := e.hull("top"); r.code != 125 {
		t.Errorf("no arguments:\n%v", r)
	}
}

package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestContainerPrune(t *testing.T) {
	e := newLC(t)
	e.must("run", "--name", "done1", "busybox", "sh", "-c", "head -c 20000 /dev/zero > /blob")
	e.must("create", "--name", "fresh", "--label", "keep=1", "busybox")
	e.must("run", "-d", "--name", "alive", "busybox", "sleep", "100")
	done1, fresh, alive := e.record("done1").ID, e.record("fresh").ID, e.record("alive").ID

	const prompt = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
	if r := e.hullIn("n\n", "container", "prune"); r.code != 0 || r.stdout != prompt {
		t.Errorf("declined:\n%v", r)
	}
	if got := e.ids(); len(got) != 3 {
		t.Fatalf("declining removed containers: %q", got)
	}
	r := e.must("container", "prune", "-f", "--filter", "label!=keep")
	if r.stdout != "Deleted Containers:\n"+done1+"\n\nTotal reclaimed space: 20kB\n" {
		t.Errorf("prune label!=keep:\n%v", r)
	}
	if r := e.must("container", "prune", "-f", "--filter", "until=1h"); r.stdout != "Total reclaimed space: 0B\n" {
		t.Errorf("prune until=1h:\n%v", r)
	}
	r = e.hullIn("y\n", "container", "prune")
	if r.code != 0 || r.stdout != prompt+"Deleted Containers:\n"+fresh+"\n\nTotal reclaimed space: 0B\n" {
		t.Errorf("prune:\n%v", r)
	}
	if got := e.ids(); !slices.Equal(got, []string{alive}) {
		t.Errorf("left: %q, want only the running one", got)
	}
	if r := e.hull("container", "prune", "-f", "--filter", "foo=bar"); r.code != 125 || r.stderr != "Error: invalid filter 'foo'\n" {
		t.Errorf("bad filter:\n%v", r)
	}
}

func TestSystemDfContainersAndVolumes(t *testing.T) {
	e := newLC(t)
	e.must("volume", "create", "df-idle")
	e.must("run", "-d", "--name", "df-run", "-v", "df-used:/data", "busybox", "sleep", "100")
	e.must("run", "--name", "df-done", "-v", "df-used:/data", "busybox", "sh", "-c", "head -c 30000 /dev/zero > /blob; head -c 5000 /dev/zero > /data/x")
	e.must("run", "--name", "df-idle-writer", "-v", "df-idle:/v", "busybox", "sh", "-c", "head -c 1000 /dev/zero > /v/y")
	e.must("rm", "df-idle-writer")

	r := e.must("system", "df")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$`),
		regexp.MustCompile(`^Images +1 +1 +\S+ +0B \(0%\)$`),
		regexp.MustCompile(`^Containers +2 +1 +30kB +30kB \(100%\)$`),
		regexp.MustCompile(`^Local Volumes +2 +1 +6kB +1kB \(16%\)$`),
		regexp.MustCompile(`^Build Cache +0 +0 +0B +0B$`),
	}
	ls := lines(r.stdout)
	if len(ls) != len(want) {
		t.Fatalf("system df:\n%s", r.stdout)
	}
	for i, re := range want {
		if !re.MatchString(ls[i]) {
			t.Errorf("line %q does not match %s", ls[i], re)
		}
	}
	r = e.must("system", "df", "-v")
	for _, frag := range []string{"Containers space usage:", "df-run", "df-done", "Local Volumes space usage:"} {
		if !strings.Contains(r.stdout, frag) {
			t.Errorf("df -v lacks %q:\n%s", frag, r.stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^df-used +2 +5kB$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^df-idle +0 +1kB$`).MatchString(r.stdout) {
		t.Errorf("df -v volumes:\n%s", r.stdout)
	}
	if !regexp.MustCompile(`(?m)^\w{12} +busybox +"sh -c head -c 30000…" +1 +30kB +`).MatchString(r.stdout) {
		t.Errorf("df -v containers:\n%s", r.stdout)
	}
	r = e.must("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
	if r.stdout != "Images 1 1\nContainers 2 1\nLocal Volumes 2 1\nBuild Cache 0 0\n" {
		t.Errorf("df --format: %q", r.stdout)
	}
}

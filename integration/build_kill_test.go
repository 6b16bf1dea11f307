package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
)

// kill -9 of `hull build` in the middle of a RUN leaves nothing that the
// next build does not clean up: the RUN's processes, its cgroup, its
// mounts and scratch files; and the store builds on.
func TestBuildKill9(t *testing.T) {
	e := newCT(t)
	ctx := filepath.Join(e.dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	// A sleep with a unique duration marks the RUN's process (busybox sh
	// execs the last command of -c).
	marker := "29." + strings.ReplaceAll(filepath.Base(e.dir), "hc", "")
	df := "FROM busybox\nRUN echo start > /m && sleep " + marker + "\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	// Kill it once its RUN runs.
	cmd := e.cmd("build", "--progress", "plain", ctx)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(procsWith(marker)) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the RUN step did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(procsWith(marker)) == 0 {
		t.Fatal("the RUN process died with hull build: nothing to clean up, the test proves nothing")
	}
	// The next build sweeps what the killed one left.
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN echo next > /n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("build", "-q", ctx)
	e.waitFor(5*time.Second, "the killed build's RUN process to end", func() bool { return len(procsWith(marker)) == 0 })
	tmp := filepath.Join(e.root, "build", "tmp")
	if mounts := testutil.MountsUnder(tmp); len(mounts) > 0 {
		t.Errorf("mounts left under the build's scratch: %v", mounts)
	}
	ents, _ := os.ReadDir(tmp)
	for _, en := range ents {
		if strings.HasPrefix(en.Name(), "b") && en.IsDir() {
			t.Errorf("scratch directory left: %s", en.Name())
		}
	}
}

// procsWith lists the pids whose command line contains s.
func procsWith(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) && !strings.Contains(string(b), "go test") {
			out = append(out, filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}

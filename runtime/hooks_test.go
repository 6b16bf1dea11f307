package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookTo is a hook that saves its stdin (the OCI state) to file.
func hookTo(file string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + file}}
}

func readState(t *testing.T, file string) specs.State {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("hook output: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("hook state %q: %v", b, err)
	}
	return st
}

func TestHooks(t *testing.T) {
	e := newBundle(t, "/bin/sleep", "1000")
	dir := t.TempDir()
	rootfsTmp := filepath.Join(e.bundle, "rootfs", "tmp")
	e.spec.Hooks = &specs.Hooks{
		CreateRuntime:   []specs.Hook{hookTo(filepath.Join(dir, "createRuntime"))},
		CreateContainer: []specs.Hook{hookTo(filepath.Join(dir, "createContainer"))},
		// startContainer runs inside the container, after pivot_root.
		StartContainer: []specs.Hook{hookTo("/tmp/startContainer")},
		Poststart:      []specs.Hook{hookTo(filepath.Join(dir, "poststart"))},
		Poststop:       []specs.Hook{hookTo(filepath.Join(dir, "poststop"))},
	}
	id := e.newID()
	e.mustCreate(id)
	pid := e.state(id).Pid
	for _, name := range []string{"createRuntime", "createContainer"} {
		st := readState(t, filepath.Join(dir, name))
		if st.ID != id || st.Pid != pid || st.Status != "creating" || st.Bundle != e.bundle {
			t.Errorf("%s hook got %+v", name, st)
		}
	}
	e.mustHull("start", id)
	if st := readState(t, filepath.Join(dir, "poststart")); st.Status != "running" || st.Pid != pid {
		t.Errorf("poststart hook got %+v", st)
	}
	// The hook may still be writing: wait for a whole JSON document.
	waitFor(t, func() bool {
		b, err := os.ReadFile(filepath.Join(rootfsTmp, "startContainer"))
		return err == nil && json.Valid(b)
	})
	if st := readState(t, filepath.Join(rootfsTmp, "startContainer")); st.ID != id {
		t.Errorf("startContainer hook got %+v", st)
	}
	e.mustHull("delete", "--force", id)
	if st := readState(t, filepath.Join(dir, "poststop")); st.Status != "stopped" || st.ID != id {
		t.Errorf("poststop hook got %+v", st)
	}
}

func TestFailingHooks(t *testing.T) {
	e := newBundle(t, "/bin/true")
	timeout := 1
	e.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo broken >&2; exit 2"}}}}
	id := e.newID()
	res := e.create(id)
	if res.ExitCode != 1 || !strings.Contains(res.Stdout, "createRuntime hook") || !strings.Contains(res.Stdout, "broken") {
		t.Fatalf("failing createRuntime hook: exit %d: %s", res.ExitCode, res.Stdout)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Fatalf("state left behind: %v", err)
	}
	e.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &timeout}}}
	if res := e.create(e.newID()); res.ExitCode != 1 || !strings.Contains(res.Stdout, "timed out") {
		t.Fatalf("hook timeout: exit %d: %s", res.ExitCode, res.Stdout)
	}
	// A failing poststart or poststop hook is only a warning.
	e.spec.Hooks = &specs.Hooks{
		Poststart: []specs.Hook{{Path: "/bin/false"}},
		Poststop:  []specs.Hook{{Path: "/bin/false"}},
	}
	res = e.run()
	if res.ExitCode != 0 || strings.Count(res.Stderr, "WARNING") != 2 {
		t.Fatalf("failing poststart/poststop: exit %d: %s", res.ExitCode, res.Stderr)
	}
}

// TestFailingContainerHooks covers the hooks init runs itself
// (createContainer, startContainer): their output and exit status in the
// error, their timeout.
func TestFailingContainerHooks(t *testing.T) {
	e := newBundle(t, "/bin/true")
	timeout := 1
	e.spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{
		{Path: "/bin/true"},
		{Path: "/bin/sh", Args: []string{"sh", "-c", "echo said; echo broken >&2; exit 3"}, Env: []string{"X=1"}},
	}}
	id := e.newID()
	res := e.create(id)
	for _, want := range []string{"createContainer hook #1", "/bin/sh: exit status 3", "stdout: said", "stderr: broken"} {
		if res.ExitCode != 1 || !strings.Contains(res.Stdout, want) {
			t.Fatalf("failing createContainer hook: exit %d, want %q in: %s", res.ExitCode, want, res.Stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
		t.Fatalf("state left behind: %v", err)
	}
	e.spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "10"}, Timeout: &timeout}}}
	if res := e.create(e.newID()); res.ExitCode != 1 || !strings.Contains(res.Stdout, "/bin/sleep: timed out after 1s") {
		t.Fatalf("createContainer hook timeout: exit %d: %s", res.ExitCode, res.Stdout)
	}
	e.spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/nonexistent"}}}
	if res := e.create(e.newID()); res.ExitCode != 1 || !strings.Contains(res.Stdout, "no such file or directory") {
		t.Fatalf("missing createContainer hook: exit %d: %s", res.ExitCode, res.Stdout)
	}
	// A startContainer hook fails after create returned: init reports it
	// and the container never runs.
	e.spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 4"}}}}
	if res := e.run(); res.ExitCode == 0 || !strings.Contains(res.Stderr, "error running startContainer hook #0: /bin/sh: exit status 4") {
		t.Fatalf("failing startContainer hook: exit %d: %s", res.ExitCode, res.Stderr)
	}
}

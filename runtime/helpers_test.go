package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/runtime"
	"github.com/hull-project/hull/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundleEnv is a busybox bundle and a state root for driving
// `hull runtime` through the hull binary.
type bundleEnv struct {
	t      *testing.T
	root   string // --root of hull runtime
	bundle string
	spec   *specs.Spec
	ids    []string
}

var idSeq atomic.Int64

// newBundle makes a bundle with a busybox rootfs and spec.Default(),
// adjusted for tests: no terminal, writable rootfs, args as given.
func newBundle(t *testing.T, args ...string) *bundleEnv {
	t.Helper()
	testutil.RequireRoot(t)
	bundle := t.TempDir()
	// The rootfs must be reachable for non-root users and user
	// namespaces.
	for _, d := range []string{filepath.Dir(bundle), bundle} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.BusyboxRootfs(t, filepath.Join(bundle, "rootfs"))
	s := spec.Default()
	s.Process.Terminal = false
	s.Root.Readonly = false
	s.Process.Args = args
	e := &bundleEnv{t: t, root: t.TempDir(), bundle: bundle, spec: s}
	t.Cleanup(func() {
		for _, id := range e.ids {
			testutil.Hull(t, e.root, "runtime", "delete", "--force", id)
		}
	})
	return e
}

// newID returns a container ID unique to this test process.
func (e *bundleEnv) newID() string {
	name := regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(e.t.Name(), "-")
	if len(name) > 40 {
		name = name[:40]
	}
	id := fmt.Sprintf("hull-test-%d-%s-%d", os.Getpid(), strings.ToLower(name), idSeq.Add(1))
	e.ids = append(e.ids, id)
	return id
}

// writeSpec writes the bundle's config.json.
func (e *bundleEnv) writeSpec() {
	e.t.Helper()
	b, err := json.MarshalIndent(e.spec, "", "  ")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// hull runs `hull runtime --root <root> args...`.
func (e *bundleEnv) hull(args ...string) testutil.Result {
	e.t.Helper()
	return testutil.Hull(e.t, e.root, append([]string{"runtime"}, args...)...)
}

// mustHull is hull, failing the test unless it exits 0.
func (e *bundleEnv) mustHull(args ...string) testutil.Result {
	e.t.Helper()
	return testutil.MustHull(e.t, e.root, append([]string{"runtime"}, args...)...)
}

// run writes the spec and runs the container in the foreground.
func (e *bundleEnv) run(extra ...string) testutil.Result {
	e.t.Helper()
	e.writeSpec()
	args := append([]string{"run", "--bundle", e.bundle}, extra...)
	return e.hull(append(args, e.newID())...)
}

// mustRun is run, failing the test unless the container exits 0; it
// returns the container's stdout.
func (e *bundleEnv) mustRun(extra ...string) string {
	e.t.Helper()
	res := e.run(extra...)
	if res.ExitCode != 0 {
		e.t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

// create writes the spec and creates the container id with its stdio
// going to files in the bundle (the init process keeps them open, so
// pipes would hold up the test); it returns the create result.
func (e *bundleEnv) create(id string, extra ...string) testutil.Result {
	e.t.Helper()
	e.writeSpec()
	args := append([]string{"runtime", "create", "--bundle", e.bundle}, extra...)
	cmd := testutil.HullCmd(e.t, e.root, append(args, id)...)
	out, err := os.Create(filepath.Join(e.bundle, id+".out"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	res := testutil.Result{Stdout: string(b)}
	if err != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	return res
}

// mustCreate is create, failing the test on error.
func (e *bundleEnv) mustCreate(id string, extra ...string) {
	e.t.Helper()
	if res := e.create(id, extra...); res.ExitCode != 0 {
		e.t.Fatalf("create %s: exit %d\n%s", id, res.ExitCode, res.Stdout)
	}
}

// output returns what the container id wrote to its stdio so far.
func (e *bundleEnv) output(id string) string {
	b, _ := os.ReadFile(filepath.Join(e.bundle, id+".out"))
	return string(b)
}

// state returns `hull runtime state id`.
func (e *bundleEnv) state(id string) runtime.State {
	e.t.Helper()
	res := e.mustHull("state", id)
	var st runtime.State
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil {
		e.t.Fatalf("state %s: %v\n%s", id, err, res.Stdout)
	}
	return st
}

// waitStatus waits until the container reaches status.
func (e *bundleEnv) waitStatus(id string, status runtime.Status) runtime.State {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.state(id)
		if st.Status == status {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: status %s, want %s", id, st.Status, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shell sets the process to `sh -c script`.
func (e *bundleEnv) shell(script string) {
	e.spec.Process.Args = []string{"/bin/sh", "-c", script}
}

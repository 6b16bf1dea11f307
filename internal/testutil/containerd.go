package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CtrTimeout bounds one ctr command run by Containerd.Ctr.
const CtrTimeout = time.Minute

// containerdStartTimeout bounds the wait for a new containerd's socket.
const containerdStartTimeout = 20 * time.Second

// Containerd is a private containerd daemon (Debian's containerd package)
// started by StartContainerd. Everything it keeps lives under Dir, which is
// removed when the test ends.
type Containerd struct {
	t testing.TB
	// Dir is the daemon's directory: its config, root and state
	// directories, sockets and log. It is directly under /tmp so that the
	// unix socket paths stay well below their 108-byte limit.
	Dir string
	// Address is the daemon's gRPC socket (ctr's -a).
	Address string
	// Namespace is the containerd namespace Ctr works in (ctr's -n).
	Namespace string
	// RuncRoot is a state root for the runc shim's runtime binary, to give
	// as `ctr run --runc-root`; the shim adds the namespace, so a
	// container's runtime state is in RuncRoot/Namespace/<id>.
	RuncRoot string
	// FifoDir is a directory for the stdio fifos of ctr run and ctr task
	// exec, to give as their --fifo-dir (ctr's default is
	// /run/containerd/fifo).
	FifoDir string
	// CgroupParent is a cgroup parent of the test's own, to give as `ctr
	// run --cgroup CgroupParent/<id>` (ctr's default, /<namespace>/<id>,
	// is shared by every daemon). Its directories are removed at the end.
	CgroupParent string
	// LogPath is the daemon's log (--log-level debug), printed when the
	// test fails.
	LogPath string

	ctr  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the daemon has exited
}

// StartContainerd starts a private containerd with a generated config (root
// and state under Dir, its own gRPC and ttrpc sockets, the CRI plugin
// disabled, debug logging to LogPath) and waits until it serves. When the
// test ends it kills and deletes the tasks and containers left in
// Namespace, stops the daemon, unmounts whatever is still mounted under Dir
// and removes Dir and CgroupParent; if the test failed it first prints the
// end of the daemon's log. It needs root and the binaries containerd, ctr
// and containerd-shim-runc-v2 (skipping the test without them, failing it
// under CI; see InCI).
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	RequireRoot(t)
	daemon := RequireBinary(t, "containerd")
	ctr := RequireBinary(t, "ctr")
	RequireBinary(t, "containerd-shim-runc-v2")
	dir, err := os.MkdirTemp("/tmp", "ctd")
	if err != nil {
		t.Fatal(err)
	}
	c := &Containerd{
		t:            t,
		Dir:          dir,
		Address:      filepath.Join(dir, "c.sock"),
		Namespace:    "hulltest",
		RuncRoot:     filepath.Join(dir, "runc"),
		FifoDir:      filepath.Join(dir, "fifo"),
		CgroupParent: "/hull-" + filepath.Base(dir),
		LogPath:      filepath.Join(dir, "containerd.log"),
		ctr:          ctr,
		done:         make(chan struct{}),
	}
	// Registered first, so it runs last: after the daemon has stopped.
	t.Cleanup(c.removeDir)
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Address, c.Address+".ttrpc", filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(daemon, "--config", cfgPath, "--log-level", "debug")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.stop)
	deadline := time.Now().Add(containerdStartTimeout)
	for {
		conn, err := net.Dial("unix", c.Address)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-c.done:
			t.Fatalf("containerd exited at startup (%v)\n%s", c.cmd.ProcessState, c.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not serve %s within %v: %v\n%s", c.Address, containerdStartTimeout, err, c.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// Ctr runs `ctr -a Address -n Namespace args...` with no stdin and returns
// what it printed and its exit code (ctr exits with a task's status after
// `run` and `task exec`). The test fails if ctr cannot be run or runs
// longer than CtrTimeout.
func (c *Containerd) Ctr(args ...string) Result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CtrTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.ctr, append([]string{"-a", c.Address, "-n", c.Namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	cmdline := "ctr " + strings.Join(args, " ")
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		c.t.Fatalf("%s: killed after %v\nstdout:\n%s\nstderr:\n%s", cmdline, CtrTimeout, res.Stdout, res.Stderr)
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		c.t.Fatalf("%s: %v", cmdline, err)
	}
	c.t.Logf("$ %s  (exit %d)", cmdline, res.ExitCode)
	return res
}

// MustCtr is Ctr, failing the test (showing stderr and stdout) unless ctr
// exits 0.
func (c *Containerd) MustCtr(args ...string) Result {
	c.t.Helper()
	res := c.Ctr(args...)
	if res.ExitCode != 0 {
		c.t.Fatalf("ctr %s: exit %d\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), res.ExitCode, res.Stderr, res.Stdout)
	}
	return res
}

// logTailBytes is how much of the daemon's log a failed test prints.
const logTailBytes = 64 << 10

// logTail returns the end of the daemon's log.
func (c *Containerd) logTail() string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return fmt.Sprintf("(no containerd log: %v)", err)
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "containerd log (end):\n" + string(b)
	}
	return "containerd log:\n" + string(b)
}

// stop deletes what the test left in the namespace and stops the daemon.
func (c *Containerd) stop() {
	if c.t.Failed() {
		c.t.Logf("%s", c.logTail())
	}
	select {
	case <-c.done:
		return
	default:
	}
	// Tasks first (their shims outlive the daemon otherwise), then
	// containers; errors are the test's concern, not the cleanup's.
	ctx, cancel := context.WithTimeout(context.Background(), CtrTimeout)
	defer cancel()
	ctr := func(args ...string) string {
		out, _ := exec.CommandContext(ctx, c.ctr, append([]string{"-a", c.Address, "-n", c.Namespace}, args...)...).Output()
		return string(out)
	}
	for _, id := range strings.Fields(ctr("task", "ls", "-q")) {
		ctr("task", "rm", "-f", id)
	}
	for _, id := range strings.Fields(ctr("container", "ls", "-q")) {
		ctr("container", "rm", id)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// removeDir unmounts what is left mounted under Dir (snapshots, rootfs
// mounts of a crashed shim), removes Dir and the CgroupParent directories.
func (c *Containerd) removeDir() {
	for _, m := range MountsUnder(c.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			c.t.Logf("unmount %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		c.t.Logf("remove %s: %v", c.Dir, err)
	}
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", c.CgroupParent))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", c.CgroupParent))
	for _, d := range dirs {
		_ = syscall.Rmdir(d) // fails harmlessly if absent
	}
}

package testutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// HullPackage is the import path of hull's command, built by HullBinary.
const HullPackage = "github.com/hull-project/hull/cmd/hull"

// HullTimeout bounds one run of the hull binary by Hull, MustHull and
// HullCmd.
const HullTimeout = 5 * time.Minute

var hullBinary struct {
	once sync.Once
	path string
	err  error
}

// HullBinary builds hull's command (HullPackage) once per test process and
// returns the path of the binary. It lives in a per-user cache directory
// under os.TempDir(), keyed by the module's directory and replaced
// atomically, so concurrent test processes do not disturb each other and
// repeated runs do not pile up binaries. The test fails, showing the
// compiler's output, if the build fails.
func HullBinary(t testing.TB) string {
	t.Helper()
	hullBinary.once.Do(func() {
		hullBinary.path, hullBinary.err = buildHull()
	})
	if hullBinary.err != nil {
		t.Fatalf("HullBinary: %v", hullBinary.err)
	}
	return hullBinary.path
}

func buildHull() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if _, serr := os.Stat(goBin); serr != nil {
			return "", fmt.Errorf("no go command in PATH: %v", err)
		}
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("the test does not run inside hull's module")
	}
	dir, err := cacheDir()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(gomod))
	bin := filepath.Join(dir, "hull-"+hex.EncodeToString(sum[:6]))
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	defer os.Remove(tmp) // no-op after the rename
	cmd := exec.Command(goBin, "build", "-o", tmp, HullPackage)
	cmd.Dir = filepath.Dir(gomod)
	// Static, as hull ships: it runs inside containers as --init.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", HullPackage, err, out)
	}
	// Rename, so a process still running an older binary is not disturbed.
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Result is the outcome of one run of the hull binary.
type Result struct {
	// Stdout and Stderr are everything the command wrote to them.
	Stdout, Stderr string
	// ExitCode is the command's exit status (-1 if a signal killed it).
	ExitCode int
}

var hullHomes struct {
	mu    sync.Mutex
	homes map[string]string // root -> HOME
}

// HullHome returns the HOME directory that Hull, MustHull and HullCmd give
// the hull binary for root: a temp dir of the test, the same for every call
// with the same root until the test ends, so ~/.docker/config.json (written
// by `hull login`, or by the test itself) is isolated per root.
func HullHome(t testing.TB, root string) string {
	t.Helper()
	hullHomes.mu.Lock()
	defer hullHomes.mu.Unlock()
	if h, ok := hullHomes.homes[root]; ok {
		return h
	}
	if hullHomes.homes == nil {
		hullHomes.homes = map[string]string{}
	}
	h := t.TempDir()
	hullHomes.homes[root] = h
	t.Cleanup(func() {
		hullHomes.mu.Lock()
		defer hullHomes.mu.Unlock()
		delete(hullHomes.homes, root)
	})
	return h
}

// HullCmd returns an unstarted command that runs the hull binary (see
// HullBinary) as `hull --root root args...` with HOME set to HullHome(t,
// root) and DOCKER_CONFIG unset, killed after HullTimeout or when the test
// ends. Use it to give the command stdin or to read its output as it comes;
// Hull is simpler otherwise.
func HullCmd(t testing.TB, root string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), HullTimeout)
	t.Cleanup(cancel)
	return hullCommand(ctx, HullBinary(t), HullHome(t, root), root, args)
}

func hullCommand(ctx context.Context, bin, home, root string, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, append([]string{"--root", root}, args...)...)
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "DOCKER_CONFIG=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	// Don't hang in Wait if the command leaves a child holding its output.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// Hull runs `hull --root root args...` (see HullCmd) with no stdin and
// returns what it printed and its exit code. A non-zero exit is not an
// error here (see MustHull); the test fails if the command cannot be run or
// runs longer than HullTimeout.
func Hull(t testing.TB, root string, args ...string) Result {
	t.Helper()
	return runHull(t, HullBinary(t), HullHome(t, root), root, args)
}

func runHull(t testing.TB, bin, home, root string, args []string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), HullTimeout)
	defer cancel()
	cmd := hullCommand(ctx, bin, home, root, args)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	cmdline := "hull " + strings.Join(args, " ")
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: killed after %v\nstdout:\n%s\nstderr:\n%s", cmdline, HullTimeout, res.Stdout, res.Stderr)
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", cmdline, err)
	}
	t.Logf("$ %s  (exit %d)", cmdline, res.ExitCode)
	return res
}

// MustHull is Hull, failing the test (showing stderr and stdout) unless the
// command exits 0.
func MustHull(t testing.TB, root string, args ...string) Result {
	t.Helper()
	res := Hull(t, root, args...)
	if res.ExitCode != 0 {
		t.Fatalf("hull %s: exit %d\nstderr:\n%s\nstdout:\n%s", strings.Join(args, " "), res.ExitCode, res.Stderr, res.Stdout)
	}
	return res
}

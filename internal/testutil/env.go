package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// InCI reports whether the tests run under CI, i.e. whether the environment
// variable CI holds a true value ("true", "1", ...). CI always runs the tests
// as root with every dependency installed, so a missing prerequisite there is
// a broken setup, not a reason to skip.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// skipOrFail skips t, or fails it when running under CI (see InCI).
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: failing instead of skipping)", msg)
		return
	}
	t.Skip(msg)
}

// RequireRoot skips the test unless it runs with effective uid 0. Under CI
// (see InCI) it fails the test instead of skipping it.
func RequireRoot(t testing.TB) {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		skipOrFail(t, "test needs root (euid is %d); run it with sudo, e.g. sudo ./hack/test.sh", euid)
	}
}

// RequireBinary returns the path of the executable name (looked up in PATH
// unless name contains a slash). If there is none it skips the test, or fails
// it under CI (see InCI); ./hack/install-deps.sh installs every binary the
// tests use.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "test needs %s: %v (run ./hack/install-deps.sh as root)", name, err)
		return ""
	}
	return p
}

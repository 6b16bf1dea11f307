package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGeneratedUpToDate regenerates the tables and compares them with the
// committed zsyscalls.go. It needs Debian's linux-libc-dev headers and
// skips when golang.org/x/sys was upgraded since the last `go generate`.
func TestGeneratedUpToDate(t *testing.T) {
	const headers = "/usr/include/x86_64-linux-gnu/asm"
	if _, err := os.Stat(headers + "/unistd_x32.h"); err != nil {
		t.Skipf("kernel headers not installed (apt-get install linux-libc-dev): %v", err)
	}
	committed, err := os.ReadFile("../../zsyscalls.go")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatal(err)
	}
	if v := strings.TrimSpace(string(out)); !bytes.Contains(committed, []byte("const xsysVersion = \""+v+"\"")) {
		t.Skipf("golang.org/x/sys is now %s; run `go generate ./seccomp/` to refresh the syscall tables", v)
	}
	got, err := generate("", headers)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatal("seccomp/zsyscalls.go is stale: run `go generate ./seccomp/`")
	}
}

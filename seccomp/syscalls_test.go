package seccomp

import (
	"runtime"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyscallNumbers(t *testing.T) {
	for _, c := range []struct {
		abi  int
		name string
		nr   uint32
	}{
		{archAMD64, "read", 0},
		{archAMD64, "write", 1},
		{archAMD64, "openat", 257},
		{archAMD64, "mount", 165},
		{archAMD64, "clone3", 435},
		{archAMD64, "uretprobe", 335},
		{archARM64, "openat", 56},
		{archARM64, "read", 63},
		{archARM64, "clone", 220},
		{archX86, "read", 3},
		{archX86, "openat", 295},
		{archX86, "socketcall", 102},
		{archX32, "read", x32Bit + 0},
		{archX32, "openat", x32Bit + 257},
		{archX32, "rt_sigaction", x32Bit + 512}, // x32-specific compat entry
		{archX32, "pwritev2", x32Bit + 547},
		{archX32, "cachestat", x32Bit + 451}, // inferred: newer than the x32 header
		{archARM, "openat", 322},
		{archARM, "set_tls", 0x0f0005},
		{archARM, "cacheflush", 0x0f0002},
		{archARM, "sync_file_range2", 341},
	} {
		if nr, ok := syscallNumber(c.abi, c.name); !ok || nr != c.nr {
			t.Errorf("%s %s = %#x (%v), want %#x", archInfos[c.abi].name, c.name, nr, ok, c.nr)
		}
	}
	for _, c := range []struct {
		abi  int
		name string
	}{{archARM64, "open"}, {archX86, "newfstatat"}, {archX32, "get_thread_area"}, {archAMD64, "mmap2"}} {
		if nr, ok := syscallNumber(c.abi, c.name); ok {
			t.Errorf("%s has no %s, table says %d", archInfos[c.abi].name, c.name, nr)
		}
	}
}

// TestSyscallTableHost cross-checks the table with x/sys's constants for the
// architecture the test runs on.
func TestSyscallTableHost(t *testing.T) {
	var abi int
	switch runtime.GOARCH {
	case "amd64":
		abi = archAMD64
	case "arm64":
		abi = archARM64
	default:
		t.Skipf("no host cross-check for %s", runtime.GOARCH)
	}
	for name, want := range map[string]uintptr{
		"read": unix.SYS_READ, "openat": unix.SYS_OPENAT, "mount": unix.SYS_MOUNT, "clone": unix.SYS_CLONE,
		"clone3": unix.SYS_CLONE3, "seccomp": unix.SYS_SECCOMP, "personality": unix.SYS_PERSONALITY,
		"socket": unix.SYS_SOCKET, "unshare": unix.SYS_UNSHARE, "uname": unix.SYS_UNAME,
	} {
		if nr, ok := syscallNumber(abi, name); !ok || uintptr(nr) != want {
			t.Errorf("%s = %d (%v), x/sys says %d", name, nr, ok, want)
		}
	}
}

func TestSyscallTableShape(t *testing.T) {
	if !sort.SliceIsSorted(sysTable[:], func(i, j int) bool { return sysTable[i].name < sysTable[j].name }) {
		t.Fatal("sysTable is not sorted")
	}
	for i, e := range sysTable {
		if i > 0 && sysTable[i-1].name == e.name {
			t.Errorf("duplicate %s", e.name)
		}
		for a, nr := range e.nr {
			switch {
			case nr == -1:
			case a == archX32 && (nr < x32Bit || nr >= x32Bit+1024):
				t.Errorf("x32 %s = %#x", e.name, nr)
			case a == archARM && nr >= 0x0f0000 && nr <= 0x0f0006:
			case a != archX32 && (nr < 0 || nr >= 1024):
				t.Errorf("%s %s = %d", archInfos[a].name, e.name, nr)
			}
		}
	}
	// Numbers are unique per ABI (aliases aside).
	aliases := map[string]bool{"sync_file_range2": true}
	for a := range numArches {
		seen := map[int32]string{}
		for _, e := range sysTable {
			if nr := e.nr[a]; nr >= 0 && !aliases[e.name] {
				if other, dup := seen[nr]; dup {
					t.Errorf("%s: %s and %s are both %d", archInfos[a].name, other, e.name, nr)
				}
				seen[nr] = e.name
			}
		}
	}
	if len(sysTable) < 450 {
		t.Errorf("only %d syscalls", len(sysTable))
	}
	t.Logf("%d syscall names from golang.org/x/sys %s; x32 numbers inferred for %v", len(sysTable), xsysVersion, x32Inferred)
}

package seccomp

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	moby "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerProfile returns Docker's default profile as resolved for a
// container with the given bounding capabilities on this host (moby picks
// the architectures from runtime.GOARCH).
func dockerProfile(t testing.TB, caps ...string) *specs.LinuxSeccomp {
	t.Helper()
	p, err := moby.GetDefaultProfile(&specs.Spec{Process: &specs.Process{
		Capabilities: &specs.LinuxCapabilities{Bounding: caps},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mobyDefault is Docker's default profile for a container with Docker's
// default capabilities.
func mobyDefault() (*specs.LinuxSeccomp, error) {
	return moby.GetDefaultProfile(&specs.Spec{Process: &specs.Process{
		Capabilities: &specs.LinuxCapabilities{Bounding: dockerDefaultCaps},
	}})
}

// dockerDefaultCaps are the capabilities Docker grants by default.
var dockerDefaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func TestDockerDefaultProfileAMD64(t *testing.T) {
	spec := dockerProfile(t, dockerDefaultCaps...)
	if !slices.Contains(spec.Architectures, specs.ArchX32) && slices.Contains(spec.Architectures, specs.ArchX86_64) {
		t.Fatalf("unexpected architectures %v", spec.Architectures)
	}
	spec.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	f := mustCompile(t, spec, "amd64")
	t.Logf("Docker default profile on amd64: %d instructions", len(f.Program))
	eperm := uint32(retErrno | uint32(unix.EPERM))
	enosys := uint32(retErrno | uint32(unix.ENOSYS))
	newuser := uint64(unix.CLONE_NEWUSER)
	cases := []struct {
		abi  int
		name string
		args []uint64
		want uint32
	}{
		{archAMD64, "read", nil, retAllow},
		{archAMD64, "openat", nil, retAllow},
		{archAMD64, "getpid", nil, retAllow},
		{archAMD64, "mount", nil, eperm},
		{archAMD64, "umount2", nil, eperm},
		{archAMD64, "unshare", []uint64{newuser}, eperm},
		{archAMD64, "setns", nil, eperm},
		{archAMD64, "kexec_load", nil, eperm},
		{archAMD64, "reboot", nil, eperm},
		{archAMD64, "chroot", nil, retAllow}, // CAP_SYS_CHROOT is a default capability
		{archAMD64, "arch_prctl", nil, retAllow},
		{archAMD64, "clone3", nil, enosys}, // so that libc falls back to clone
		{archAMD64, "clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{archAMD64, "clone", []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD}, retAllow},
		{archAMD64, "clone", []uint64{newuser | uint64(unix.SIGCHLD)}, eperm},
		{archAMD64, "clone", []uint64{unix.CLONE_NEWNS}, eperm},
		{archAMD64, "clone", []uint64{unix.CLONE_NEWNET}, eperm},
		{archAMD64, "personality", []uint64{0}, retAllow},
		{archAMD64, "personality", []uint64{8}, retAllow},
		{archAMD64, "personality", []uint64{0x20008}, retAllow},
		{archAMD64, "personality", []uint64{0xffffffff}, retAllow},
		{archAMD64, "personality", []uint64{0x0400000}, eperm},           // READ_IMPLIES_EXEC
		{archAMD64, "personality", []uint64{0xffffffff_ffffffff}, eperm}, // 64-bit: high half differs
		{archAMD64, "personality", []uint64{1 << 32}, eperm},
		{archAMD64, "socket", []uint64{unix.AF_UNIX}, retAllow},
		{archAMD64, "socket", []uint64{unix.AF_INET}, retAllow},
		{archAMD64, "socket", []uint64{unix.AF_INET6}, retAllow},
		{archAMD64, "socket", []uint64{unix.AF_NETLINK}, retAllow},
		{archAMD64, "socket", []uint64{unix.AF_VSOCK}, eperm},
		{archAMD64, "socket", []uint64{unix.AF_ALG}, eperm},
		{archAMD64, "socket", []uint64{0}, retAllow},                 // Docker allows "< 3"; the kernel rejects AF_UNSPEC itself
		{archAMD64, "socket", []uint64{1<<32 | unix.AF_UNIX}, eperm}, // not < 3 as a 64-bit value
		{archAMD64, "ptrace", nil, retAllow},                         // kernel >= 4.8
		// i386 compat.
		{archX86, "read", nil, retAllow},
		{archX86, "mount", nil, eperm},
		{archX86, "socketcall", nil, retAllow},
		{archX86, "_llseek", nil, retAllow},
		{archX86, "personality", []uint64{0xffffffff}, retAllow},
		{archX86, "personality", []uint64{0xdead_0000_ffff_ffff}, retAllow}, // 32-bit: only the low half exists
		{archX86, "personality", []uint64{0x1234}, eperm},
		{archX86, "clone", []uint64{newuser}, eperm},
		{archX86, "clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{archX86, "socket", []uint64{unix.AF_VSOCK}, eperm},
		{archX86, "modify_ldt", nil, retAllow},
		// x32.
		{archX32, "read", nil, retAllow},
		{archX32, "rt_sigaction", nil, retAllow},
		{archX32, "mount", nil, eperm},
		{archX32, "clone", []uint64{newuser}, eperm},
		{archX32, "personality", []uint64{0xffffffff_ffffffff}, eperm},
	}
	for _, c := range cases {
		nr := sys(t, c.abi, c.name)
		if got := run(t, f, c.abi, nr, c.args...); got != c.want {
			t.Errorf("%s %s%#x: got %#x, want %#x", archInfos[c.abi].name, c.name, c.args, got, c.want)
		}
	}
	// Syscall numbers no table has, and ABIs of other machines.
	if got := run(t, f, archAMD64, 999); got != eperm {
		t.Errorf("x86_64 nr 999: got %#x", got)
	}
	if got := run(t, f, archARM64, 63); got != retKillProcess {
		t.Errorf("aarch64 read on amd64 filter: got %#x", got)
	}
	checkAgainstRef(t, rand.New(rand.NewPCG(5, 6)), spec, "amd64", f, 20000)
}

func TestDockerDefaultProfileSysAdmin(t *testing.T) {
	spec := dockerProfile(t, append(slices.Clone(dockerDefaultCaps), "CAP_SYS_ADMIN")...)
	f := mustCompile(t, spec, "amd64")
	for _, name := range []string{"mount", "unshare", "setns", "clone", "clone3"} {
		if got := run(t, f, archAMD64, sys(t, archAMD64, name), unix.CLONE_NEWUSER); got != retAllow {
			t.Errorf("%s with CAP_SYS_ADMIN: got %#x", name, got)
		}
	}
}

func TestDockerDefaultProfileARM64(t *testing.T) {
	spec := dockerProfile(t, dockerDefaultCaps...)
	spec.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	f := mustCompile(t, spec, "arm64")
	t.Logf("Docker default profile on arm64: %d instructions", len(f.Program))
	eperm := uint32(retErrno | uint32(unix.EPERM))
	for _, c := range []struct {
		abi  int
		name string
		args []uint64
		want uint32
	}{
		{archARM64, "openat", nil, retAllow},
		{archARM64, "read", nil, retAllow},
		{archARM64, "mount", nil, eperm},
		{archARM64, "clone", []uint64{unix.CLONE_NEWUSER}, eperm},
		{archARM64, "clone", []uint64{uint64(unix.SIGCHLD)}, retAllow},
		{archARM64, "personality", []uint64{0xffffffff}, retAllow},
		{archARM, "read", nil, retAllow},
		{archARM, "mmap2", nil, retAllow},
		{archARM, "mount", nil, eperm},
	} {
		if got := run(t, f, c.abi, sys(t, c.abi, c.name), c.args...); got != c.want {
			t.Errorf("%s %s%#x: got %#x, want %#x", archInfos[c.abi].name, c.name, c.args, got, c.want)
		}
	}
	if got := run(t, f, archAMD64, 0); got != retKillProcess {
		t.Errorf("x86_64 on arm64 filter: %#x", got)
	}
	checkAgainstRef(t, rand.New(rand.NewPCG(7, 8)), spec, "arm64", f, 20000)
}

// TestDockerProfileUnknownNames pins which names of Docker's full default
// profile (every arch- and capability-conditional rule) no table knows. With
// the x/sys v0.50.0 tables (Linux 7.x numbering) every syscall Docker lists
// for amd64 and arm64 is known, including the newest (uretprobe, mseal,
// listmount/statmount, lsm_*, setxattrat/getxattrat/listxattrat/removexattrat,
// cachestat, fchmodat2, futex_wake/wait/requeue, map_shadow_stack). What
// remains belongs to other architectures (riscv64, s390x, ppc64le); Compile
// skips those names silently, as it would skip a syscall newer than the
// tables.
func TestDockerProfileUnknownNames(t *testing.T) {
	var unknown []string
	for _, sc := range moby.DefaultProfile().Syscalls {
		for _, n := range sc.Names {
			if lookupSyscall(n) < 0 && !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
		}
	}
	sort.Strings(unknown)
	want := []string{"riscv_flush_icache", "riscv_hwprobe", "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr", "swapcontext"}
	if !slices.Equal(unknown, want) {
		t.Errorf("names of Docker's profile no table knows: %q, want %q", unknown, want)
	}
	// Whatever a future profile adds, unknown names must not fail Compile.
	spec := dockerProfile(t)
	spec.Syscalls = append(spec.Syscalls, specs.LinuxSyscall{Names: []string{"syscall_from_2031"}, Action: specs.ActAllow})
	mustCompile(t, spec, "amd64")
}

// BenchmarkCompileDockerDefault measures Compile on Docker's default
// profile, as every container start pays it.
func BenchmarkCompileDockerDefault(b *testing.B) {
	for _, arch := range []string{"amd64", "arm64"} {
		b.Run(arch, func(b *testing.B) {
			spec := dockerProfile(b, dockerDefaultCaps...)
			if arch == "arm64" {
				spec.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
			}
			b.ReportAllocs()
			var n int
			for b.Loop() {
				f, err := Compile(spec, arch)
				if err != nil {
					b.Fatal(err)
				}
				n = len(f.Program)
			}
			b.ReportMetric(float64(n), "insns")
		})
	}
}

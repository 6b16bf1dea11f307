package seccomp

//go:generate go run ./internal/gen -o zsyscalls.go

import (
	"sort"

	"golang.org/x/sys/unix"
)

// Architecture indices: the columns of sysTable (see internal/gen).
const (
	archAMD64 = iota
	archX86
	archX32
	archARM64
	archARM
	numArches
)

// x32Bit is __X32_SYSCALL_BIT: x32 syscalls run under AUDIT_ARCH_X86_64 with
// this bit set in the syscall number.
const x32Bit = 0x40000000

// sysEntry is one row of the generated syscall table.
type sysEntry struct {
	name string
	nr   [numArches]int32
}

// archInfo describes one ABI a filter can dispatch on.
type archInfo struct {
	name   string // libseccomp/OCI name
	audit  uint32 // AUDIT_ARCH_* value seen in seccomp_data.arch
	args32 bool   // syscall arguments are 32 bits wide (zero-extended)
	nrMin  uint32 // first syscall number of this ABI's range
	nrMax  uint32 // last syscall number of this ABI's range
}

var archInfos = [numArches]archInfo{
	archAMD64: {name: "x86_64", audit: unix.AUDIT_ARCH_X86_64, nrMin: 0, nrMax: x32Bit - 1},
	archX86:   {name: "x86", audit: unix.AUDIT_ARCH_I386, args32: true, nrMin: 0, nrMax: 0xffffffff},
	// x32 shares AUDIT_ARCH_X86_64 with x86_64; its numbers carry x32Bit. Its
	// registers are 64 bits wide, so arguments are compared as 64-bit values.
	archX32:   {name: "x32", audit: unix.AUDIT_ARCH_X86_64, nrMin: x32Bit, nrMax: 0xffffffff},
	archARM64: {name: "aarch64", audit: unix.AUDIT_ARCH_AARCH64, nrMin: 0, nrMax: 0xffffffff},
	archARM:   {name: "arm", audit: unix.AUDIT_ARCH_ARM, args32: true, nrMin: 0, nrMax: 0xffffffff},
}

// The tables below are switches rather than map variables: a package-level
// map is built at every start of hull, including the container init it
// re-executes, where start-up time is container start latency.

// ociArch returns the arch index (above) of an OCI/libseccomp architecture
// name hull can filter.
func ociArch(name string) (int, bool) {
	switch name {
	case "SCMP_ARCH_X86_64":
		return archAMD64, true
	case "SCMP_ARCH_X86":
		return archX86, true
	case "SCMP_ARCH_X32":
		return archX32, true
	case "SCMP_ARCH_AARCH64":
		return archARM64, true
	case "SCMP_ARCH_ARM":
		return archARM, true
	}
	return 0, false
}

// otherOCIArch reports whether name is a valid OCI architecture name that
// no kernel hull runs on can report for a process (it belongs to other
// machines); Compile ignores those, as the resulting filter sections could
// never match.
func otherOCIArch(name string) bool {
	switch name {
	case "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
		"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
		"SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
		"SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
		"SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
		"SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB":
		return true
	}
	return false
}

// nativeABIs are a kernel's native ABI and the ABIs it can also run (and
// so report in seccomp_data.arch).
type nativeABIs struct {
	native int
	compat []int
}

// nativeArch returns the ABIs of a GOARCH.
func nativeArch(goarch string) (nativeABIs, bool) {
	switch goarch {
	case "amd64":
		return nativeABIs{archAMD64, []int{archX86, archX32}}, true
	case "arm64":
		return nativeABIs{archARM64, []int{archARM}}, true
	case "386":
		return nativeABIs{archX86, nil}, true
	case "arm":
		return nativeABIs{archARM, nil}, true
	}
	return nativeABIs{}, false
}

// lookupSyscall returns the index of name in sysTable, or -1 if no
// supported architecture knows it.
func lookupSyscall(name string) int {
	i := sort.Search(len(sysTable), func(i int) bool { return sysTable[i].name >= name })
	if i < len(sysTable) && sysTable[i].name == name {
		return i
	}
	return -1
}

// syscallNumber returns the number of name on arch (an arch* index).
func syscallNumber(arch int, name string) (uint32, bool) {
	e := lookupSyscall(name)
	if e < 0 || sysTable[e].nr[arch] < 0 {
		return 0, false
	}
	return uint32(sysTable[e].nr[arch]), true
}

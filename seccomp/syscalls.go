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

// ociArch maps the OCI/libseccomp architecture names hull can filter to the
// arch indices above.
var ociArch = map[string]int{
	"SCMP_ARCH_X86_64":  archAMD64,
	"SCMP_ARCH_X86":     archX86,
	"SCMP_ARCH_X32":     archX32,
	"SCMP_ARCH_AARCH64": archARM64,
	"SCMP_ARCH_ARM":     archARM,
}

// otherOCIArches are valid OCI architecture names that no kernel hull runs on
// can report for a process (they belong to other machines); Compile ignores
// them, as the resulting filter sections could never match.
var otherOCIArches = map[string]bool{
	"SCMP_ARCH_MIPS": true, "SCMP_ARCH_MIPS64": true, "SCMP_ARCH_MIPS64N32": true,
	"SCMP_ARCH_MIPSEL": true, "SCMP_ARCH_MIPSEL64": true, "SCMP_ARCH_MIPSEL64N32": true,
	"SCMP_ARCH_PPC": true, "SCMP_ARCH_PPC64": true, "SCMP_ARCH_PPC64LE": true,
	"SCMP_ARCH_S390": true, "SCMP_ARCH_S390X": true, "SCMP_ARCH_PARISC": true,
	"SCMP_ARCH_PARISC64": true, "SCMP_ARCH_RISCV64": true, "SCMP_ARCH_LOONGARCH64": true,
	"SCMP_ARCH_M68K": true, "SCMP_ARCH_SH": true, "SCMP_ARCH_SHEB": true,
}

// nativeArches maps a GOARCH to its native ABI and the ABIs its kernel can
// also run (and so report in seccomp_data.arch).
var nativeArches = map[string]struct {
	native int
	compat []int
}{
	"amd64": {archAMD64, []int{archX86, archX32}},
	"arm64": {archARM64, []int{archARM}},
	"386":   {archX86, nil},
	"arm":   {archARM, nil},
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

package seccomp

import (
	"math/rand/v2"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// This file holds a straightforward reference model of the filter semantics
// (see the package documentation), written independently of the compiler,
// and a differential test running compiled programs against it.

// refABI returns the ABI the kernel reports d under, or -1.
func refABI(d seccompData) int {
	switch d.arch {
	case unix.AUDIT_ARCH_X86_64:
		if d.nr >= x32Bit { // like libseccomp: the whole upper range is x32's
			return archX32
		}
		return archAMD64
	case unix.AUDIT_ARCH_I386:
		return archX86
	case unix.AUDIT_ARCH_AARCH64:
		return archARM64
	case unix.AUDIT_ARCH_ARM:
		return archARM
	}
	return -1
}

// refEnabled reports whether the filter for native covers abi.
func refEnabled(spec *specs.LinuxSeccomp, native string, abi int) bool {
	nativeABI := map[string]int{"amd64": archAMD64, "arm64": archARM64, "386": archX86, "arm": archARM}
	compat := map[string]map[specs.Arch]int{
		"amd64": {specs.ArchX86: archX86, specs.ArchX32: archX32, specs.ArchX86_64: archAMD64},
		"arm64": {specs.ArchARM: archARM, specs.ArchAARCH64: archARM64},
	}
	if nativeABI[native] == abi {
		return true
	}
	for _, a := range spec.Architectures {
		if i, ok := compat[native][a]; ok && i == abi {
			return true
		}
	}
	return false
}

// refRet is the SECCOMP_RET_* value of an action.
func refRet(act specs.LinuxSeccompAction, errnoRet *uint) uint32 {
	data := uint32(1) // EPERM
	if errnoRet != nil {
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActAllow:
		return 0x7fff0000
	case specs.ActErrno:
		return 0x00050000 | data
	case specs.ActKill, specs.ActKillThread:
		return 0
	case specs.ActKillProcess:
		return 0x80000000
	case specs.ActTrap:
		return 0x00030000
	case specs.ActTrace:
		return 0x7ff00000 | data
	case specs.ActLog:
		return 0x7ffc0000
	}
	panic("refRet: unexpected action " + act)
}

// refCond evaluates one condition on an argument value.
func refCond(a specs.LinuxSeccompArg, v uint64) bool {
	switch a.Op {
	case specs.OpEqualTo:
		return v == a.Value
	case specs.OpNotEqual:
		return v != a.Value
	case specs.OpLessThan:
		return v < a.Value
	case specs.OpLessEqual:
		return v <= a.Value
	case specs.OpGreaterThan:
		return v > a.Value
	case specs.OpGreaterEqual:
		return v >= a.Value
	case specs.OpMaskedEqual:
		return v&a.Value == a.ValueTwo
	}
	panic("refCond: unexpected op " + a.Op)
}

// refEval is what the filter compiled from spec for native must return for d.
func refEval(spec *specs.LinuxSeccomp, native string, d seccompData) uint32 {
	abi := refABI(d)
	if abi < 0 || !refEnabled(spec, native, abi) {
		return 0x80000000 // bad arch: kill process
	}
	for _, sc := range spec.Syscalls {
		named := false
		for _, n := range sc.Names {
			if nr, ok := syscallNumber(abi, n); ok && nr == d.nr {
				named = true
			}
		}
		if !named {
			continue
		}
		match := true
		for _, a := range sc.Args {
			v := d.args[a.Index]
			if abi == archX86 || abi == archARM {
				v = uint64(uint32(v)) // 32-bit ABI: the kernel passes 32 bits
			}
			match = match && refCond(a, v)
		}
		if match {
			return refRet(sc.Action, sc.ErrnoRet)
		}
	}
	return refRet(spec.DefaultAction, spec.DefaultErrnoRet)
}

// interesting are argument values around the 32-bit boundaries.
var interesting = []uint64{
	0, 1, 2, 3, 0x7f, 0x80000000, 0xfffffffe, 0xffffffff,
	0x100000000, 0x100000001, 0x1ffffffff, 0x200000000, 0xffffffff00000000,
	0xffffffff00000001, 0xfffffffffffffffe, 0xffffffffffffffff, 0x7fffffffffffffff,
	0x8000000000000000, 0x12345678_9abcdef0,
}

var refNames = []string{
	"read", "write", "openat", "personality", "socket", "clone", "_llseek",
	"set_tls", "getpid", "mmap2", "rt_sigaction", "cachestat", "uretprobe",
	"no_such_syscall_2099",
}

var refActions = []specs.LinuxSeccompAction{
	specs.ActAllow, specs.ActErrno, specs.ActKill, specs.ActKillThread,
	specs.ActKillProcess, specs.ActTrap, specs.ActTrace, specs.ActLog,
}

var refOps = []specs.LinuxSeccompOperator{
	specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
	specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual,
}

func randValue(r *rand.Rand) uint64 {
	switch r.IntN(4) {
	case 0:
		return r.Uint64()
	case 1:
		return uint64(r.Uint32())
	default:
		return interesting[r.IntN(len(interesting))]
	}
}

func randAction(r *rand.Rand) (specs.LinuxSeccompAction, *uint) {
	act := refActions[r.IntN(len(refActions))]
	if (act == specs.ActErrno || act == specs.ActTrace) && r.IntN(2) == 0 {
		e := uint(r.IntN(200))
		return act, &e
	}
	return act, nil
}

// randomSpec makes a profile exercising rule order, conditions and arches.
func randomSpec(r *rand.Rand, maxRules int) *specs.LinuxSeccomp {
	s := &specs.LinuxSeccomp{}
	s.DefaultAction, s.DefaultErrnoRet = randAction(r)
	for _, a := range []specs.Arch{specs.ArchX86, specs.ArchX32, specs.ArchARM, specs.ArchAARCH64, specs.ArchS390X} {
		if r.IntN(2) == 0 {
			s.Architectures = append(s.Architectures, a)
		}
	}
	for range r.IntN(maxRules + 1) {
		var sc specs.LinuxSyscall
		for range 1 + r.IntN(3) {
			sc.Names = append(sc.Names, refNames[r.IntN(len(refNames))])
		}
		sc.Action, sc.ErrnoRet = randAction(r)
		for range r.IntN(4) {
			a := specs.LinuxSeccompArg{Index: uint(r.IntN(3)), Op: refOps[r.IntN(len(refOps))], Value: randValue(r)}
			if a.Op == specs.OpMaskedEqual {
				a.ValueTwo = randValue(r)
				if r.IntN(2) == 0 {
					a.ValueTwo = a.Value & randValue(r) // satisfiable
				}
			}
			sc.Args = append(sc.Args, a)
		}
		s.Syscalls = append(s.Syscalls, sc)
	}
	return s
}

// randomData makes a syscall the profile is likely to care about.
func randomData(r *rand.Rand, spec *specs.LinuxSeccomp) seccompData {
	audits := []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, 0xdeadbeef}
	d := seccompData{arch: audits[r.IntN(len(audits))], ip: r.Uint64()}
	abi := map[uint32]int{unix.AUDIT_ARCH_X86_64: archAMD64, unix.AUDIT_ARCH_I386: archX86, unix.AUDIT_ARCH_AARCH64: archARM64, unix.AUDIT_ARCH_ARM: archARM}[d.arch]
	if d.arch == unix.AUDIT_ARCH_X86_64 && r.IntN(3) == 0 {
		abi = archX32
	}
	switch r.IntN(6) {
	case 0:
		d.nr = r.Uint32()
	case 1:
		d.nr = uint32(r.IntN(600))
		if abi == archX32 {
			d.nr |= x32Bit
		}
	default:
		var names []string
		for _, sc := range spec.Syscalls {
			names = append(names, sc.Names...)
		}
		if len(names) == 0 {
			names = refNames
		}
		if nr, ok := syscallNumber(abi, names[r.IntN(len(names))]); ok {
			d.nr = nr
		}
	}
	for i := range d.args {
		d.args[i] = randValue(r)
		// Values the rules test, and neighbours.
		if len(spec.Syscalls) > 0 && r.IntN(2) == 0 {
			sc := spec.Syscalls[r.IntN(len(spec.Syscalls))]
			if len(sc.Args) > 0 {
				a := sc.Args[r.IntN(len(sc.Args))]
				d.args[i] = a.Value + uint64(r.IntN(3)) - 1
				if a.Op == specs.OpMaskedEqual && r.IntN(2) == 0 {
					d.args[i] = a.ValueTwo | (r.Uint64() &^ a.Value)
				}
			}
		}
	}
	return d
}

// checkAgainstRef runs n random syscalls through f and the reference model.
func checkAgainstRef(t *testing.T, r *rand.Rand, spec *specs.LinuxSeccomp, native string, f *Filter, n int) {
	t.Helper()
	for range n {
		d := randomData(r, spec)
		got, err := runBPF(f.Program, d)
		if err != nil {
			t.Fatalf("running filter: %v\n%s", err, disasm(f.Program))
		}
		if want := refEval(spec, native, d); got != want {
			t.Fatalf("native %s, data %+v: filter returned %#x, reference %#x\nspec: %+v\n%s", native, d, got, want, spec, disasm(f.Program))
		}
	}
}

func TestDifferentialRandomProfiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	for i := range iterations {
		spec := randomSpec(r, 8)
		for _, native := range []string{"amd64", "arm64", "386", "arm"} {
			f, err := Compile(spec, native)
			if err != nil {
				t.Fatalf("iteration %d: Compile(%s): %v\n%+v", i, native, err, spec)
			}
			if err := validate(f.Program); err != nil {
				t.Fatal(err)
			}
			checkAgainstRef(t, r, spec, native, f, 40)
		}
	}
}

// TestDifferentialLargeProfiles forces long jumps: many conditional rules
// per syscall make subtrees and rule chains longer than 255 instructions.
func TestDifferentialLargeProfiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	trampolines := 0
	for i := range 30 {
		spec := randomSpec(r, 150)
		f, err := Compile(spec, "amd64")
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		for _, in := range f.Program {
			if in.Code == opJa {
				trampolines++
			}
		}
		checkAgainstRef(t, r, spec, "amd64", f, 500)
	}
	if trampolines == 0 {
		t.Fatal("no JA trampoline was needed: the test does not exercise long jumps")
	}
	t.Logf("%d trampolines", trampolines)
}

func TestReferenceModelSelfCheck(t *testing.T) {
	// Guard against a reference model that agrees with anything.
	spec := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}},
	}
	d := seccompData{arch: unix.AUDIT_ARCH_X86_64}
	if got := refEval(spec, "amd64", d); got != retAllow {
		t.Fatalf("read: %#x", got)
	}
	d.nr = 1
	if got := refEval(spec, "amd64", d); got != retErrno|1 {
		t.Fatalf("write: %#x", got)
	}
	if !slices.Contains(refNames, "read") {
		t.Fatal("refNames")
	}
}

package seccomp

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

// mustCompile compiles spec and checks the program is valid.
func mustCompile(t *testing.T, spec *specs.LinuxSeccomp, arch string) *Filter {
	t.Helper()
	f, err := Compile(spec, arch)
	if err != nil {
		t.Fatalf("Compile(%s): %v", arch, err)
	}
	if err := validate(f.Program); err != nil {
		t.Fatalf("invalid program: %v\n%s", err, disasm(f.Program))
	}
	return f
}

// run runs f on a syscall of the given ABI.
func run(t *testing.T, f *Filter, abi int, nr uint32, args ...uint64) uint32 {
	t.Helper()
	d := seccompData{nr: nr, arch: archInfos[abi].audit}
	copy(d.args[:], args)
	got, err := runBPF(f.Program, d)
	if err != nil {
		t.Fatalf("running filter: %v\n%s", err, disasm(f.Program))
	}
	return got
}

// sys returns the number of a syscall that must exist.
func sys(t *testing.T, abi int, name string) uint32 {
	t.Helper()
	nr, ok := syscallNumber(abi, name)
	if !ok {
		t.Fatalf("no syscall %s on %s", name, archInfos[abi].name)
	}
	return nr
}

func TestActions(t *testing.T) {
	cases := []struct {
		act  specs.LinuxSeccompAction
		errn *uint
		want uint32
	}{
		{specs.ActAllow, nil, unix.SECCOMP_RET_ALLOW},
		{specs.ActErrno, nil, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{specs.ActErrno, uintp(38), unix.SECCOMP_RET_ERRNO | 38},
		{specs.ActErrno, uintp(0), unix.SECCOMP_RET_ERRNO},
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, uintp(7), unix.SECCOMP_RET_TRACE | 7},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%v", c.act, c.errn != nil), func(t *testing.T) {
			// As a rule's action (default: something else)...
			other := specs.ActAllow
			if c.act == specs.ActAllow {
				other = specs.ActLog
			}
			f := mustCompile(t, &specs.LinuxSeccomp{
				DefaultAction: other,
				Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: c.act, ErrnoRet: c.errn}},
			}, "amd64")
			if got := run(t, f, archAMD64, sys(t, archAMD64, "getpid")); got != c.want {
				t.Errorf("rule action: got %#x, want %#x", got, c.want)
			}
			if got := run(t, f, archAMD64, sys(t, archAMD64, "getppid")); got == c.want {
				t.Errorf("getppid also got %#x", got)
			}
			// ...and as the default action.
			f = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: c.act, DefaultErrnoRet: c.errn}, "amd64")
			if got := run(t, f, archAMD64, 1234); got != c.want {
				t.Errorf("default action: got %#x, want %#x", got, c.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	ok := specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	cases := []struct {
		name   string
		mutate func(s *specs.LinuxSeccomp)
		arch   string
		want   string
	}{
		{"notify rule", func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}
		}, "amd64", "SCMP_ACT_NOTIFY is not supported"},
		{"notify default", func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify }, "amd64", "not supported"},
		{"empty default", func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }, "amd64", "empty action"},
		{"unknown action", func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_FOO"}}
		}, "amd64", `unknown action "SCMP_ACT_FOO"`},
		{"errno too big", func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uintp(70000) }, "amd64", "does not fit in 16 bits"},
		{"arg index", func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}
		}, "amd64", "argument index 6 out of range"},
		{"unknown op", func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_XX"}}}}
		}, "amd64", `unknown comparison operator "SCMP_CMP_XX"`},
		{"missing op", func(s *specs.LinuxSeccomp) {
			s.Syscalls = []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 0}}}}
		}, "amd64", "missing comparison operator"},
		{"unknown arch", func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{"SCMP_ARCH_VAX"} }, "amd64", `unknown architecture "SCMP_ARCH_VAX"`},
		{"unsupported native", func(s *specs.LinuxSeccomp) {}, "riscv64", `unsupported architecture "riscv64"`},
		{"unknown flag", func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"} }, "amd64", "unknown or unsupported seccomp flag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.mutate(&s)
			_, err := Compile(&s, c.arch)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := Compile(nil, "amd64"); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

func TestFlags(t *testing.T) {
	f := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog,
			specs.LinuxSeccompFlagSpecAllow, specs.LinuxSeccompFlagWaitKillableRecv},
	}, "amd64")
	want := uint(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW)
	if f.Flags != want {
		t.Fatalf("flags %#x, want %#x", f.Flags, want)
	}
}

// TestComparisons checks every operator on 64-bit ABIs against values that
// differ only in the high or only in the low half, and on the 32-bit ABI.
func TestComparisons(t *testing.T) {
	const (
		v    = 0x00000001_80000000
		loLT = 0x00000001_7fffffff // same hi, lower lo
		loGT = 0x00000001_80000001 // same hi, higher lo
		hiLT = 0x00000000_ffffffff // lower hi, higher lo
		hiGT = 0x00000002_00000000 // higher hi, lower lo
	)
	type probe struct {
		arg  uint64
		want bool
	}
	cases := []struct {
		op     specs.LinuxSeccompOperator
		value  uint64
		value2 uint64
		probes []probe
	}{
		{specs.OpEqualTo, v, 0, []probe{{v, true}, {loLT, false}, {loGT, false}, {hiLT, false}, {hiGT, false}, {0x80000000, false}}},
		{specs.OpNotEqual, v, 0, []probe{{v, false}, {loLT, true}, {loGT, true}, {hiLT, true}, {hiGT, true}, {0x80000000, true}}},
		{specs.OpLessThan, v, 0, []probe{{v, false}, {loLT, true}, {loGT, false}, {hiLT, true}, {hiGT, false}, {0, true}}},
		{specs.OpLessEqual, v, 0, []probe{{v, true}, {loLT, true}, {loGT, false}, {hiLT, true}, {hiGT, false}, {^uint64(0), false}}},
		{specs.OpGreaterThan, v, 0, []probe{{v, false}, {loLT, false}, {loGT, true}, {hiLT, false}, {hiGT, true}, {^uint64(0), true}}},
		{specs.OpGreaterEqual, v, 0, []probe{{v, true}, {loLT, false}, {loGT, true}, {hiLT, false}, {hiGT, true}, {0, false}}},
		// arg & 0x0000000f_0000f000 == 0x00000003_00002000
		{specs.OpMaskedEqual, 0x0000000f_0000f000, 0x00000003_00002000, []probe{
			{0x00000003_00002000, true}, {0xfffffff3_ffff2fff, true}, {0x00000002_00002000, false},
			{0x00000003_00003000, false}, {0x00002000, false},
		}},
		// Docker's clone rule: no namespace flag set.
		{specs.OpMaskedEqual, unix.CLONE_NEWNS | unix.CLONE_NEWUSER, 0, []probe{
			{uint64(unix.SIGCHLD), true}, {unix.CLONE_NEWUSER, false}, {unix.CLONE_NEWNS | uint64(unix.SIGCHLD), false}, {1 << 40, true},
		}},
		// Values with a zero high half compare the high half too.
		{specs.OpEqualTo, 5, 0, []probe{{5, true}, {1<<32 | 5, false}}},
		{specs.OpLessThan, 5, 0, []probe{{4, true}, {1<<32 | 4, false}}},
		{specs.OpGreaterThan, 0xffffffff_fffffff0, 0, []probe{{0xffffffff_fffffff1, true}, {0xfffffff0, false}}},
	}
	for _, c := range cases {
		spec := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uintp(99),
				Args: []specs.LinuxSeccompArg{{Index: 3, Op: c.op, Value: c.value, ValueTwo: c.value2}},
			}},
		}
		for _, native := range []string{"amd64", "arm64"} {
			f := mustCompile(t, spec, native)
			n, _ := nativeArch(native)
			abi := n.native
			for _, p := range c.probes {
				got := run(t, f, abi, sys(t, abi, "personality"), 0, 0, 0, p.arg)
				if (got == retErrno|99) != p.want {
					t.Errorf("%s: %s %#x (%#x) on arg %#x: got %#x, want match=%v", native, c.op, c.value, c.value2, p.arg, got, p.want)
				}
				if want := refEval(spec, native, seccompData{nr: sys(t, abi, "personality"), arch: archInfos[abi].audit, args: [6]uint64{3: p.arg}}); got != want {
					t.Errorf("reference model disagrees: %#x vs %#x", got, want)
				}
			}
		}
	}
}

// TestComparisons32 checks the 32-bit ABIs: only the low half of an argument
// exists, and operands above 32 bits are decided at compile time.
func TestComparisons32(t *testing.T) {
	cases := []struct {
		op    specs.LinuxSeccompOperator
		value uint64
		arg   uint64
		want  bool
	}{
		{specs.OpEqualTo, 7, 7, true},
		{specs.OpEqualTo, 7, 0xdead0000_00000007, true}, // garbage above 32 bits is ignored
		{specs.OpEqualTo, 1<<32 | 7, 7, false},          // never: the argument is < 2^32
		{specs.OpNotEqual, 1<<32 | 7, 7, true},          // always
		{specs.OpGreaterThan, 1 << 32, 0xffffffff, false},
		{specs.OpLessThan, 1 << 32, 0xffffffff, true},
		{specs.OpLessEqual, 0xffffffff, 0xffffffff, true},
		{specs.OpGreaterEqual, 0x80000000, 0x80000000, true},
		{specs.OpGreaterEqual, 0x80000000, 0x7fffffff, false},
	}
	for _, c := range cases {
		spec := &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86},
			Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: c.op, Value: c.value}},
			}},
		}
		f := mustCompile(t, spec, "amd64")
		got := run(t, f, archX86, sys(t, archX86, "personality"), c.arg)
		if (got == retErrno|1) != c.want {
			t.Errorf("x86 %s %#x on %#x: got %#x, want match=%v\n%s", c.op, c.value, c.arg, got, c.want, disasm(f.Program))
		}
	}
}

func TestRuleOrderAndConjunction(t *testing.T) {
	spec := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{
			// Both conditions must hold.
			{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: uintp(10), Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 2, Op: specs.OpGreaterThan, Value: 100}}},
			// Checked next; ORed with the first in order.
			{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: uintp(20), Args: []specs.LinuxSeccompArg{
				{Index: 0, Op: specs.OpEqualTo, Value: 1}}},
			// Two conditions on the same argument are ANDed (a range).
			{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: uintp(30), Args: []specs.LinuxSeccompArg{
				{Index: 1, Op: specs.OpGreaterEqual, Value: 10}, {Index: 1, Op: specs.OpLessThan, Value: 20}}},
			{Names: []string{"openat"}, Action: specs.ActAllow},
			// Never reached: the rule above is unconditional.
			{Names: []string{"openat"}, Action: specs.ActKillProcess},
		},
	}
	f := mustCompile(t, spec, "amd64")
	nr := sys(t, archAMD64, "openat")
	for _, c := range []struct {
		args []uint64
		want uint32
	}{
		{[]uint64{1, 0, 101}, retErrno | 10},
		{[]uint64{1, 0, 100}, retErrno | 20},
		{[]uint64{1, 15, 100}, retErrno | 20},
		{[]uint64{2, 15, 100}, retErrno | 30},
		{[]uint64{2, 20, 100}, retAllow},
		{[]uint64{2, 9, 100}, retAllow},
	} {
		if got := run(t, f, archAMD64, nr, c.args...); got != c.want {
			t.Errorf("openat%v: got %#x, want %#x", c.args, got, c.want)
		}
	}
	if got := run(t, f, archAMD64, sys(t, archAMD64, "read")); got != retErrno|1 {
		t.Errorf("read: got %#x", got)
	}
}

func TestArchitectures(t *testing.T) {
	rules := []specs.LinuxSyscall{{Names: []string{"read", "rt_sigaction", "set_tls"}, Action: specs.ActAllow}}
	t.Run("native only", func(t *testing.T) {
		f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: rules}, "amd64")
		if got := run(t, f, archAMD64, 0); got != retAllow {
			t.Errorf("x86_64 read: %#x", got)
		}
		if got := run(t, f, archAMD64, 1); got != retErrno|1 {
			t.Errorf("x86_64 write: %#x", got)
		}
		for _, c := range []struct {
			abi int
			nr  uint32
		}{{archX86, 3}, {archX32, x32Bit}, {archX32, x32Bit + 1}, {archARM64, 63}, {archX32, 0xffffffff}} {
			if got := run(t, f, c.abi, c.nr); got != retKillProcess {
				t.Errorf("%s nr %#x: got %#x, want kill process (bad arch)", archInfos[c.abi].name, c.nr, got)
			}
		}
	})
	t.Run("x86 family", func(t *testing.T) {
		f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: rules,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchS390X, specs.ArchAARCH64}}, "amd64")
		for _, c := range []struct {
			abi  int
			nr   uint32
			want uint32
		}{
			{archAMD64, 0, retAllow},
			{archAMD64, 13, retAllow}, // rt_sigaction
			{archX86, 3, retAllow},    // read
			{archX86, 0, retErrno | 1},
			{archX86, 174, retAllow},             // rt_sigaction
			{archX32, x32Bit, retAllow},          // read
			{archX32, x32Bit + 13, retErrno | 1}, // x86_64's rt_sigaction number is not x32's
			{archX32, x32Bit + 512, retAllow},    // x32 rt_sigaction
			{archX32, 0xffffffff, retErrno | 1},
			{archARM64, 63, retKillProcess}, // AARCH64 is ignored on amd64
		} {
			if got := run(t, f, c.abi, c.nr); got != c.want {
				t.Errorf("%s nr %#x: got %#x, want %#x", archInfos[c.abi].name, c.nr, got, c.want)
			}
		}
	})
	t.Run("arm family", func(t *testing.T) {
		f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: rules,
			Architectures: []specs.Arch{specs.ArchAARCH64, specs.ArchARM, specs.ArchX86}}, "arm64")
		for _, c := range []struct {
			abi  int
			nr   uint32
			want uint32
		}{
			{archARM64, 63, retAllow},
			{archARM64, 64, retErrno | 1},
			{archARM, 3, retAllow},
			{archARM, 0x0f0005, retAllow}, // set_tls
			{archARM, 0x0f0002, retErrno | 1},
			{archX86, 3, retKillProcess},
			{archAMD64, 0, retKillProcess},
		} {
			if got := run(t, f, c.abi, c.nr); got != c.want {
				t.Errorf("%s nr %#x: got %#x, want %#x", archInfos[c.abi].name, c.nr, got, c.want)
			}
		}
	})
}

func TestUnknownSyscallNames(t *testing.T) {
	// Names no table knows (a syscall from a future kernel, another
	// architecture's, a typo) are skipped like runc does, not errors.
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"future_syscall_2031", "riscv_hwprobe", "", "read"}, Action: specs.ActAllow},
		{Names: []string{"only_unknown"}, Action: specs.ActKillProcess},
	}}, "amd64")
	if got := run(t, f, archAMD64, 0); got != retAllow {
		t.Errorf("read: %#x", got)
	}
	// Names unknown on one ABI but known on another are used where known.
	f = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"_llseek", "newfstatat"}, Action: specs.ActAllow}}}, "amd64")
	if got := run(t, f, archX86, 140); got != retAllow {
		t.Errorf("x86 _llseek: %#x", got)
	}
	if got := run(t, f, archAMD64, 262); got != retAllow {
		t.Errorf("x86_64 newfstatat: %#x", got)
	}
}

func TestTooLarge(t *testing.T) {
	var calls []specs.LinuxSyscall
	for i := range 1500 {
		calls = append(calls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpGreaterThan, Value: uint64(i) << 33}}})
	}
	_, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: calls}, "amd64")
	if err == nil || !strings.Contains(err.Error(), "seccomp filter too large") || !strings.Contains(err.Error(), "at most 4096") {
		t.Fatalf("got %v, want a too-large error", err)
	}
}

func TestTooManyLabels(t *testing.T) {
	var calls []specs.LinuxSyscall
	for i := range 12000 {
		calls = append(calls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{
				{Index: 1, Op: specs.OpNotEqual, Value: uint64(i) << 33},
				{Index: 2, Op: specs.OpLessThan, Value: uint64(i) << 34},
				{Index: 3, Op: specs.OpGreaterThan, Value: uint64(i)},
			}})
	}
	_, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: calls}, "amd64")
	if err == nil || !strings.Contains(err.Error(), "jump targets") {
		t.Fatalf("got %v, want a too-large error", err)
	}
}

// TestLongJumps builds a leaf far longer than 255 instructions between
// syscall dispatch nodes, so the dispatch's jumps need trampolines.
func TestLongJumps(t *testing.T) {
	var calls []specs.LinuxSyscall
	for i := range 200 {
		calls = append(calls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(i + 1)),
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpEqualTo, Value: uint64(i)<<32 | uint64(i)}}})
	}
	calls = append(calls, specs.LinuxSyscall{Names: []string{"read", "write", "close", "mmap", "openat", "getpid"}, Action: specs.ActAllow})
	spec := &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess, Syscalls: calls}
	f := mustCompile(t, spec, "amd64")
	ja := 0
	for _, in := range f.Program {
		if in.Code == opJa {
			ja++
		}
	}
	if ja == 0 || len(f.Program) < 600 {
		t.Fatalf("%d instructions, %d JA: expected a long program needing trampolines", len(f.Program), ja)
	}
	nr := sys(t, archAMD64, "ioctl")
	for i := range 200 {
		if got := run(t, f, archAMD64, nr, 0, uint64(i)<<32|uint64(i)); got != retErrno|uint32(i+1) {
			t.Fatalf("ioctl %d: %#x", i, got)
		}
	}
	for _, name := range []string{"read", "write", "close", "mmap", "openat", "getpid"} {
		if got := run(t, f, archAMD64, sys(t, archAMD64, name)); got != retAllow {
			t.Errorf("%s: %#x", name, got)
		}
	}
	if got := run(t, f, archAMD64, nr, 0, 5); got != retKillProcess {
		t.Errorf("ioctl 5: %#x", got)
	}
}

func TestAssemblerTrampolines(t *testing.T) {
	// jeq with both targets far away, then a far JA.
	var a assembler
	far1, far2 := a.newLabel(), a.newLabel()
	a.ldAbs(offNr)
	a.jump(opJeqK, 1, &far1, &far2)
	for range 300 {
		a.ret(1)
	}
	a.place(far1)
	for range 300 {
		a.ret(2)
	}
	a.place(far2)
	a.ret(3)
	prog, err := a.finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(prog); err != nil {
		t.Fatal(err)
	}
	for nr, want := range map[uint32]uint32{1: 2, 0: 3, 7: 3} {
		got, err := runBPF(prog, seccompData{nr: nr})
		if err != nil || got != want {
			t.Errorf("nr %d: got %d (%v), want %d", nr, got, err, want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	ret := unix.SockFilter{Code: opRetK}
	for name, prog := range map[string][]unix.SockFilter{
		"empty":        nil,
		"no ret":       {{Code: opLdAbsW}},
		"load outside": {{Code: opLdAbsW, K: 64}, ret},
		"unaligned":    {{Code: opLdAbsW, K: 2}, ret},
		"jump outside": {{Code: opJeqK, Jt: 1}, ret},
		"ja outside":   {{Code: opJa, K: 1}, ret},
		"bad opcode":   {{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_IND}, ret},
		"div zero":     {{Code: unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K}, ret},
		"too long":     make([]unix.SockFilter, maxInsns+1),
	} {
		if err := validate(prog); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

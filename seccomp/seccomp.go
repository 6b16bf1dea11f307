// Package seccomp compiles an OCI seccomp profile (specs.LinuxSeccomp) into a
// classic BPF program and installs it with seccomp(2). It is pure Go: no cgo
// and no libseccomp.
//
// # Semantics
//
// The filter follows libseccomp/runc where the OCI specification is silent:
//
//   - Architectures: the native ABI of the arch given to Compile is always
//     filtered; spec.Architectures may add the compat ABIs its kernel runs
//     (SCMP_ARCH_X86 and SCMP_ARCH_X32 on amd64, SCMP_ARCH_ARM on arm64). Other
//     valid OCI names (SCMP_ARCH_S390X, ...) are ignored, since that kernel can
//     never report them. A syscall made through an ABI that is not in the filter
//     gets SECCOMP_RET_KILL_PROCESS (libseccomp's "bad arch" action is a kill
//     too; killing the whole process avoids leaving a half-dead one).
//   - x32 is a separate ABI even though it shares AUDIT_ARCH_X86_64 with x86_64:
//     syscall numbers from __X32_SYSCALL_BIT (0x40000000) up, like libseccomp,
//     are matched against the x32 table if SCMP_ARCH_X32 is listed (the default
//     action for numbers not in it), and are killed otherwise.
//   - Syscall names unknown on an ABI are skipped for that ABI, and names
//     unknown everywhere are skipped silently, as runc does: profiles such as
//     Docker's name syscalls of other architectures and of newer kernels.
//   - Rules are tried in the order of spec.Syscalls: the first rule naming the
//     syscall whose conditions all hold (conditions of one rule are ANDed)
//     decides the action; when none holds the default action applies. Note that
//     runc instead splits a rule with several conditions on the same argument
//     into separate, ORed rules; here they are ANDed.
//   - Argument conditions compare 64-bit values as two 32-bit halves on 64-bit
//     ABIs (x86_64, x32, aarch64). On the 32-bit ABIs (x86, arm) arguments are
//     32 bits wide, so only the low half is loaded and each condition is
//     evaluated exactly for an argument in [0, 2^32): e.g. SCMP_CMP_EQ with
//     a value above 0xffffffff never matches there.
//   - SCMP_CMP_MASKED_EQ matches when arg & Value == ValueTwo.
//   - Syscalls no rule names get the default action, also those newer than
//     the profile (runc instead patches its filter to answer ENOSYS for
//     syscall numbers above the highest one the profile knows).
//   - SCMP_ACT_ERRNO without errnoRet returns EPERM; SCMP_ACT_TRACE passes
//     errnoRet (default EPERM) to the tracer, like runc. SCMP_ACT_KILL is
//     SECCOMP_RET_KILL_THREAD, like libseccomp. SCMP_ACT_NOTIFY is not
//     supported.
//
// # Program shape
//
// The program checks seccomp_data.arch once, then finds the syscall number
// with a binary search over the sorted ranges of syscall numbers that share an
// outcome (about log2(#ranges) comparisons instead of one per listed syscall),
// and only then loads arguments, for syscalls that have conditions. A syscall
// whose outcome does not depend on its arguments never has them loaded, so
// the kernel's seccomp action cache (Linux 5.11+) can skip the filter for it.
// Conditional jumps farther than 255 instructions go through JA trampolines.
// Compile fails with a clear error when the program would exceed the
// kernel's BPF_MAXINSNS (4096) instructions.
//
// Only little-endian ABIs are supported (the 64-bit argument halves are
// loaded at little-endian offsets).
package seccomp

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Filter is a compiled seccomp filter, ready for Load.
type Filter struct {
	// Program is the classic BPF program, at most BPF_MAXINSNS (4096) long.
	Program []unix.SockFilter
	// Flags are the SECCOMP_FILTER_FLAG_* bits for seccomp(2) from the
	// profile's flags (TSYNC, LOG, SPEC_ALLOW). Callers may add bits, e.g.
	// unix.SECCOMP_FILTER_FLAG_TSYNC, before Load.
	Flags uint
}

// Action values (SECCOMP_RET_*).
const (
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retTrap        = unix.SECCOMP_RET_TRAP
	retErrno       = unix.SECCOMP_RET_ERRNO
	retTrace       = unix.SECCOMP_RET_TRACE
	retLog         = unix.SECCOMP_RET_LOG
	retAllow       = unix.SECCOMP_RET_ALLOW

	// retBadArch is returned for syscalls of ABIs the filter does not list.
	retBadArch = retKillProcess
)

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Compile builds the seccomp filter for spec on a kernel of the given native
// architecture, a runtime.GOARCH value: "amd64" or "arm64" (also "386" and
// "arm", which have no compat ABI). See the package documentation for the
// exact semantics.
func Compile(spec *specs.LinuxSeccomp, arch string) (*Filter, error) {
	if spec == nil {
		return nil, fmt.Errorf("compiling seccomp filter: no profile")
	}
	native, ok := nativeArch(arch)
	if !ok {
		return nil, fmt.Errorf("compiling seccomp filter: unsupported architecture %q", arch)
	}
	c := compiler{}
	var err error
	if c.defaultRet, err = actionRet(spec.DefaultAction, spec.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("compiling seccomp filter: default action: %w", err)
	}
	flags, err := parseFlags(spec.Flags)
	if err != nil {
		return nil, fmt.Errorf("compiling seccomp filter: %w", err)
	}

	c.enabled[native.native] = true
	for _, a := range spec.Architectures {
		idx, known := ociArch(string(a))
		switch {
		case known && (idx == native.native || slices.Contains(native.compat, idx)):
			c.enabled[idx] = true
		case known || otherOCIArch(string(a)):
			// Valid, but the kernel of this architecture never reports it.
		default:
			return nil, fmt.Errorf("compiling seccomp filter: unknown architecture %q", a)
		}
	}

	if err := c.collect(spec.Syscalls); err != nil {
		return nil, fmt.Errorf("compiling seccomp filter: %w", err)
	}
	prog, err := c.emit(native.native, native.compat)
	if err != nil {
		return nil, fmt.Errorf("compiling seccomp filter: %w", err)
	}
	if err := validate(prog); err != nil {
		return nil, fmt.Errorf("compiling seccomp filter: internal error: %w", err)
	}
	return &Filter{Program: prog, Flags: flags}, nil
}

// actionRet returns the SECCOMP_RET_* value of an OCI action.
func actionRet(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := func(def uint) (uint32, error) {
		v := def
		if errnoRet != nil {
			v = *errnoRet
		}
		if v > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errnoRet %d of %s does not fit in 16 bits", v, act)
		}
		return uint32(v), nil
	}
	switch act {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		d, err := data(uint(unix.EPERM))
		return retErrno | d, err
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActTrace:
		d, err := data(uint(unix.EPERM))
		return retTrace | d, err
	case specs.ActLog:
		return retLog, nil
	case specs.ActNotify:
		return 0, fmt.Errorf("action %s is not supported (no seccomp user notification listener in hull)", act)
	case "":
		return 0, fmt.Errorf("empty action")
	default:
		return 0, fmt.Errorf("unknown action %q", act)
	}
}

// parseFlags maps OCI seccomp flags to SECCOMP_FILTER_FLAG_* bits.
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only changes how user notifications
// are received; as SCMP_ACT_NOTIFY is not supported it is ignored (the kernel
// would reject it without a listener).
func parseFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var bits uint
	for _, f := range flags {
		switch f {
		case "SECCOMP_FILTER_FLAG_TSYNC":
			bits |= unix.SECCOMP_FILTER_FLAG_TSYNC
		case specs.LinuxSeccompFlagLog:
			bits |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			bits |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
		default:
			return 0, fmt.Errorf("unknown or unsupported seccomp flag %q", f)
		}
	}
	return bits, nil
}

// rule is one spec.Syscalls entry, checked once.
type rule struct {
	ret   uint32
	conds []specs.LinuxSeccompArg
	// folded[w] caches the conditions compiled for argument width w
	// (0: 64-bit, 1: 32-bit) once done[w] is set.
	folded [2]foldedRule
	done   [2]bool
}

// foldedRule is a rule whose conditions were simplified for one argument
// width; never is set when some condition can never hold.
type foldedRule struct {
	ret   uint32
	conds []cond
	never bool
}

// use records that rule ri applies to syscall number nr of one ABI, as
// nr<<32 | ri so that sorting orders by number, then by rule.
type use uint64

func (u use) nr() uint32 { return uint32(u >> 32) }
func (u use) ri() int    { return int(uint32(u)) }

// compiler holds the state of one Compile call.
type compiler struct {
	defaultRet uint32
	enabled    [numArches]bool
	rules      []rule
	named      []uint64        // sysTable index<<32 | rule index, for every known name
	uses       []use           // buffer of usesFor
	chains     [][]*foldedRule // rule chains of conditional outcomes
	scratch    []*foldedRule
}

// collect checks every rule and records which known syscalls it names.
func (c *compiler) collect(syscalls []specs.LinuxSyscall) error {
	c.rules = make([]rule, len(syscalls))
	names := 0
	for i := range syscalls {
		names += len(syscalls[i].Names)
	}
	c.named = make([]uint64, 0, names)
	c.uses = make([]use, 0, names)
	for i := range syscalls {
		sc := &syscalls[i]
		ret, err := actionRet(sc.Action, sc.ErrnoRet)
		if err != nil {
			return fmt.Errorf("syscalls[%d] %v: %w", i, sc.Names, err)
		}
		for j, a := range sc.Args {
			if err := checkArg(a); err != nil {
				return fmt.Errorf("syscalls[%d] %v: args[%d]: %w", i, sc.Names, j, err)
			}
		}
		c.rules[i] = rule{ret: ret, conds: sc.Args}
		for _, name := range sc.Names {
			if e := lookupSyscall(name); e >= 0 { // else unknown on every ABI
				c.named = append(c.named, uint64(e)<<32|uint64(i))
			}
		}
	}
	return nil
}

// usesFor returns, sorted, the syscall numbers the rules name on ABI a. The
// result is valid until the next call.
func (c *compiler) usesFor(a int) []use {
	u := c.uses[:0]
	for _, n := range c.named {
		if nr := sysTable[n>>32].nr[a]; nr >= 0 {
			u = append(u, use(uint64(nr)<<32|n&0xffffffff))
		}
	}
	slices.Sort(u)
	c.uses = u
	return u
}

// outcome is what the filter does for one syscall number: return ret, or,
// when chain is not 0, first try the rules of c.chains[chain-1] in order.
type outcome struct {
	ret   uint32
	chain int32
}

// interval maps the syscall numbers from lo up to the next interval's lo to
// an outcome.
type interval struct {
	lo  uint32
	out outcome
}

// outcomeFor computes the outcome of a syscall from the rules naming it, in
// spec order, for arguments of the given width.
func (c *compiler) outcomeFor(uses []use, args32 bool) outcome {
	w := 0
	if args32 {
		w = 1
	}
	chain := c.scratch[:0] // cloned below when it must be kept
	for _, u := range uses {
		r := &c.rules[u.ri()]
		if !r.done[w] {
			foldRule(&r.folded[w], r, args32)
			r.done[w] = true
		}
		f := &r.folded[w]
		if f.never {
			continue
		}
		chain = append(chain, f)
		if len(f.conds) == 0 {
			break // unconditional: later rules are never reached
		}
	}
	// Trailing rules that return the default action change nothing.
	for len(chain) > 0 && chain[len(chain)-1].ret == c.defaultRet {
		chain = chain[:len(chain)-1]
	}
	o := outcome{ret: c.defaultRet}
	if n := len(chain); n > 0 && len(chain[n-1].conds) == 0 {
		o.ret = chain[n-1].ret
		chain = chain[:n-1]
	}
	if len(chain) > 0 {
		c.chains = append(c.chains, slices.Clone(chain))
		o.chain = int32(len(c.chains))
	}
	c.scratch = chain[:0]
	return o
}

// intervals appends to dst the outcomes of the syscall numbers of ABI a
// (archInfos[a].nrMin..nrMax), merging neighbours with the same plain
// outcome. With fill, the whole range gets that outcome instead.
func (c *compiler) intervals(dst []interval, a int, fill *outcome) []interval {
	info := &archInfos[a]
	add := func(lo uint32, o outcome) {
		if n := len(dst); n > 0 && dst[n-1].out == o && o.chain == 0 {
			return // extends the previous interval
		}
		dst = append(dst, interval{lo: lo, out: o})
	}
	if fill != nil {
		add(info.nrMin, *fill)
		return dst
	}
	def := outcome{ret: c.defaultRet}
	next := uint64(info.nrMin) // first number not yet covered
	uses := c.usesFor(a)
	for i := 0; i < len(uses); {
		j := i + 1
		for j < len(uses) && uses[j].nr() == uses[i].nr() {
			j++
		}
		nr := uses[i].nr()
		if nr < info.nrMin || nr > info.nrMax {
			i = j
			continue
		}
		if uint64(nr) > next {
			add(uint32(next), def)
		}
		add(nr, c.outcomeFor(uses[i:j], info.args32))
		next = uint64(nr) + 1
		i = j
	}
	if next <= uint64(info.nrMax) {
		add(uint32(next), def)
	}
	return dst
}

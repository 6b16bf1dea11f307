package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxArgs is the number of syscall arguments in struct seccomp_data.
const maxArgs = 6

// checkArg rejects conditions that cannot be compiled.
func checkArg(a specs.LinuxSeccompArg) error {
	if a.Index >= maxArgs {
		return fmt.Errorf("argument index %d out of range (0..%d)", a.Index, maxArgs-1)
	}
	switch a.Op {
	case specs.OpEqualTo, specs.OpNotEqual, specs.OpGreaterThan, specs.OpGreaterEqual,
		specs.OpLessThan, specs.OpLessEqual, specs.OpMaskedEqual:
		return nil
	case "":
		return fmt.Errorf("missing comparison operator")
	default:
		return fmt.Errorf("unknown comparison operator %q", a.Op)
	}
}

// cond is an argument condition ready to be emitted. For ordered and
// equality operators val is the operand; for SCMP_CMP_MASKED_EQ, mask and
// val are Value and ValueTwo. checkHi/checkLo say which 32-bit halves of
// the argument must be loaded; the other half's outcome is already known.
type cond struct {
	index            uint32
	op               specs.LinuxSeccompOperator
	valHi, valLo     uint32
	maskHi, maskLo   uint32
	checkHi, checkLo bool
}

// foldResult says whether a condition needs code.
type foldResult int

const (
	foldCode foldResult = iota
	foldAlways
	foldNever
)

// foldRule stores in f the conditions of r simplified for one argument
// width.
func foldRule(f *foldedRule, r *rule, args32 bool) {
	*f = foldedRule{ret: r.ret}
	for _, a := range r.conds {
		res, cd := foldCond(a, args32)
		switch res {
		case foldNever:
			f.never = true
			f.conds = nil
			return
		case foldCode:
			f.conds = append(f.conds, cd)
		}
	}
}

// foldCond decides conditions whose outcome does not depend on the argument,
// and which 32-bit halves must be compared otherwise. With args32 the
// argument is a 32-bit value, i.e. its high half is zero.
func foldCond(a specs.LinuxSeccompArg, args32 bool) (foldResult, cond) {
	const max32 = 0xffffffff
	cd := cond{
		index: uint32(a.Index), op: a.Op,
		valHi: uint32(a.Value >> 32), valLo: uint32(a.Value),
		checkHi: !args32, checkLo: true,
	}
	v := a.Value
	if args32 {
		// The argument is below 2^32: decide by the high half of the operand.
		if cd.valHi != 0 {
			switch a.Op {
			case specs.OpEqualTo, specs.OpGreaterThan, specs.OpGreaterEqual:
				return foldNever, cd
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual:
				return foldAlways, cd
			}
		}
		v = uint64(cd.valLo) // only the low half remains to compare
	}
	maxV := uint64(1<<64 - 1)
	if args32 {
		maxV = max32
	}
	switch a.Op {
	case specs.OpGreaterEqual:
		if v == 0 {
			return foldAlways, cd
		}
	case specs.OpLessThan:
		if v == 0 {
			return foldNever, cd
		}
	case specs.OpGreaterThan:
		if v == maxV {
			return foldNever, cd
		}
	case specs.OpLessEqual:
		if v == maxV {
			return foldAlways, cd
		}
	case specs.OpMaskedEqual:
		mask, want := a.Value, a.ValueTwo
		if want&^mask != 0 {
			return foldNever, cd // arg & mask can never have bits outside mask
		}
		if args32 {
			if want>>32 != 0 {
				return foldNever, cd
			}
			mask &= max32
		}
		cd.maskHi, cd.maskLo = uint32(mask>>32), uint32(mask)
		cd.valHi, cd.valLo = uint32(want>>32), uint32(want)
		// A zero mask half makes that half compare 0 == 0 (want&^mask
		// being zero, want's half is zero too).
		cd.checkHi = cd.checkHi && cd.maskHi != 0
		cd.checkLo = cd.maskLo != 0
		if !cd.checkHi && !cd.checkLo {
			return foldAlways, cd
		}
	}
	return foldCode, cd
}

// emit lays out the whole program: a dispatch on seccomp_data.arch, then
// one syscall search per AUDIT_ARCH value, the native ABI first.
func (c *compiler) emit(native int, compat []int) ([]unix.SockFilter, error) {
	var abis []int
	for _, a := range append([]int{native}, compat...) {
		if c.enabled[a] && a != archX32 { // x32 lives in the x86_64 group
			abis = append(abis, a)
		}
	}
	e := emitter{c: c}
	e.a.insns = make([]insn, 0, 1024)
	e.a.labels = make([]int32, 0, 1024)
	e.a.ldAbs(offArch)
	starts := make([]label, len(abis))
	for i, a := range abis {
		starts[i] = e.a.newLabel()
		e.a.jump(opJeqK, archInfos[a].audit, &starts[i], nil)
	}
	e.a.ret(retBadArch)
	iv := make([]interval, 0, 256)
	for i, a := range abis {
		iv = c.intervals(iv[:0], a, nil)
		if a == archAMD64 {
			if c.enabled[archX32] {
				iv = c.intervals(iv, archX32, nil)
			} else {
				iv = c.intervals(iv, archX32, &outcome{ret: retBadArch})
			}
		}
		e.a.place(starts[i])
		if len(iv) > 1 {
			e.a.ldAbs(offNr)
		}
		e.tree(iv)
	}
	return e.a.finish()
}

// emitter emits the syscall dispatch and the argument checks.
type emitter struct {
	a assembler
	c *compiler
}

// tree emits a binary search over iv, which is sorted and covers every
// number from iv[0].lo on; the accumulator holds the syscall number.
func (e *emitter) tree(iv []interval) {
	if len(iv) == 1 {
		e.outcome(iv[0].out)
		return
	}
	mid := len(iv) / 2
	right := e.a.newLabel()
	e.a.jump(opJgeK, iv[mid].lo, &right, nil)
	e.tree(iv[:mid])
	e.a.place(right)
	e.tree(iv[mid:])
}

// outcome emits the rules of one syscall, ending in RETs.
func (e *emitter) outcome(o outcome) {
	var rules []*foldedRule
	if o.chain > 0 {
		rules = e.c.chains[o.chain-1]
	}
	for i := 0; i < len(rules); {
		if n := eqRun(rules[i:]); n > 1 {
			e.eqRun(rules[i : i+n])
			i += n
			continue
		}
		r := rules[i]
		fail := e.a.newLabel()
		for _, cd := range r.conds {
			e.cond(cd, fail)
		}
		e.a.ret(r.ret)
		e.a.place(fail)
		i++
	}
	e.a.ret(o.ret)
}

// eqRun returns how many rules at the start of rules test one argument for
// equality with operands sharing the high half (like Docker's socket and
// personality rules): they can share the argument loads.
func eqRun(rules []*foldedRule) int {
	first := rules[0].conds
	if len(first) != 1 || first[0].op != specs.OpEqualTo {
		return 0
	}
	n := 1
	for _, r := range rules[1:] {
		c := r.conds
		if len(c) != 1 || c[0].op != specs.OpEqualTo || c[0].index != first[0].index ||
			c[0].checkHi != first[0].checkHi || (c[0].checkHi && c[0].valHi != first[0].valHi) {
			break
		}
		n++
	}
	return n
}

// eqRun emits rules found by eqRun: the high half is compared once, then
// each rule is a compare-and-return pair on the low half.
func (e *emitter) eqRun(rules []*foldedRule) {
	a := &e.a
	first := rules[0].conds[0]
	loOff := uint32(offArgs + 8*first.index)
	fail := a.newLabel()
	if first.checkHi {
		a.ldAbs(loOff + 4)
		a.jump(opJeqK, first.valHi, nil, &fail)
	}
	a.ldAbs(loOff)
	for _, r := range rules {
		next := a.newLabel()
		a.jump(opJeqK, r.conds[0].valLo, nil, &next)
		a.ret(r.ret)
		a.place(next)
	}
	a.place(fail)
}

// cond emits code that falls through when cd holds and jumps to fail
// otherwise. 64-bit comparisons test the high half first and only look at
// the low half when the high halves are equal.
func (e *emitter) cond(cd cond, fail label) {
	a := &e.a
	loOff := uint32(offArgs + 8*cd.index) // little-endian: low half first
	hiOff := loOff + 4
	pass := a.newLabel()
	switch cd.op {
	case specs.OpEqualTo:
		if cd.checkHi {
			a.ldAbs(hiOff)
			a.jump(opJeqK, cd.valHi, nil, &fail)
		}
		a.ldAbs(loOff)
		a.jump(opJeqK, cd.valLo, nil, &fail)
	case specs.OpNotEqual:
		if cd.checkHi {
			a.ldAbs(hiOff)
			a.jump(opJeqK, cd.valHi, nil, &pass)
		}
		a.ldAbs(loOff)
		a.jump(opJeqK, cd.valLo, &fail, nil)
	case specs.OpMaskedEqual:
		if cd.checkHi {
			a.ldAbs(hiOff)
			if cd.maskHi != 0xffffffff {
				a.and(cd.maskHi)
			}
			a.jump(opJeqK, cd.valHi, nil, &fail)
		}
		if cd.checkLo {
			a.ldAbs(loOff)
			if cd.maskLo != 0xffffffff {
				a.and(cd.maskLo)
			}
			a.jump(opJeqK, cd.valLo, nil, &fail)
		}
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		if cd.checkHi {
			a.ldAbs(hiOff)
			if cd.valHi != 0xffffffff {
				a.jump(opJgtK, cd.valHi, &pass, nil) // hi > val: holds
			}
			if cd.valHi != 0 {
				a.jump(opJeqK, cd.valHi, nil, &fail) // hi < val: fails
			}
		}
		a.ldAbs(loOff)
		if cd.op == specs.OpGreaterThan {
			a.jump(opJgtK, cd.valLo, nil, &fail)
		} else {
			a.jump(opJgeK, cd.valLo, nil, &fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		if cd.checkHi {
			a.ldAbs(hiOff)
			if cd.valHi != 0xffffffff {
				a.jump(opJgtK, cd.valHi, &fail, nil) // hi > val: fails
			}
			if cd.valHi != 0 {
				a.jump(opJeqK, cd.valHi, nil, &pass) // hi < val: holds
			}
		}
		a.ldAbs(loOff)
		if cd.op == specs.OpLessThan {
			a.jump(opJgeK, cd.valLo, &fail, nil)
		} else {
			a.jump(opJgtK, cd.valLo, &fail, nil)
		}
	}
	a.place(pass)
}

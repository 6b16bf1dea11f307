package seccomp

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes used by the compiler (see linux/filter.h).
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa     = unix.BPF_JMP | unix.BPF_JA
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opRetK   = unix.BPF_RET | unix.BPF_K
)

// maxInsns is BPF_MAXINSNS, the kernel's limit on a classic BPF program.
const maxInsns = unix.BPF_MAXINSNS

// seccompDataSize is sizeof(struct seccomp_data).
const seccompDataSize = 64

// label names a position in the program; labels are resolved to jump
// offsets when the program is finished.
type label uint16

// maxLabels bounds the labels of one program. Every label precedes at least
// half an instruction on average, so a program needing more is far beyond
// BPF_MAXINSNS anyway.
const maxLabels = 1<<16 - 1

// errTooManyLabels is built without fmt: package variables are computed
// at every start of hull (and of the container init it re-executes).
var errTooManyLabels = errors.New("seccomp filter too large: more than " + strconv.Itoa(maxLabels) +
	" jump targets, far beyond the kernel's limit of " + strconv.Itoa(maxInsns) + " BPF instructions")

// insn is an instruction whose jump targets are still labels.
type insn struct {
	k      uint32
	code   uint16
	jt, jf label // conditional jumps; JA uses jt
}

// assembler builds a forward-only classic BPF program from instructions with
// symbolic jump targets. Conditional jumps have 8-bit offsets; finish inserts
// JA trampolines for targets further than 255 instructions away.
type assembler struct {
	insns    []insn
	labels   []int32 // label → index of the instruction it precedes; -1 unplaced
	overflow bool    // more than maxLabels labels were requested
}

func (a *assembler) newLabel() label {
	if len(a.labels) >= maxLabels {
		a.overflow = true
		return 0
	}
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// place binds l to the next instruction emitted.
func (a *assembler) place(l label) { a.labels[l] = int32(len(a.insns)) }

// here returns a label bound to the next instruction emitted.
func (a *assembler) here() label {
	l := a.newLabel()
	a.place(l)
	return l
}

func (a *assembler) ldAbs(off uint32) { a.insns = append(a.insns, insn{code: opLdAbsW, k: off}) }
func (a *assembler) and(k uint32)     { a.insns = append(a.insns, insn{code: opAndK, k: k}) }
func (a *assembler) ret(k uint32)     { a.insns = append(a.insns, insn{code: opRetK, k: k}) }

// jump emits a conditional jump; a nil target means "fall through" to the
// next instruction.
func (a *assembler) jump(code uint16, k uint32, jt, jf *label) {
	a.insns = append(a.insns, insn{code: code, k: k})
	i := len(a.insns) - 1
	var next label
	if jt == nil || jf == nil {
		next = a.here()
	}
	a.insns[i].jt, a.insns[i].jf = next, next
	if jt != nil {
		a.insns[i].jt = *jt
	}
	if jf != nil {
		a.insns[i].jf = *jf
	}
}

func isCondJump(code uint16) bool {
	return code&0x07 == unix.BPF_JMP && code&0xf0 != unix.BPF_JA
}

// finish resolves labels, inserting JA trampolines where a conditional jump
// target is out of 8-bit range, and returns the encoded program.
func (a *assembler) finish() ([]unix.SockFilter, error) {
	if a.overflow {
		return nil, errTooManyLabels
	}
	for l, pos := range a.labels {
		if pos < 0 {
			return nil, fmt.Errorf("internal error: label %d never placed", l)
		}
	}
	// Each pass turns every far conditional target into a near jump to a JA
	// placed right after the conditional jump. Insertions only lengthen other
	// jumps, so repeat until nothing is out of range; every pass fixes at least
	// one jump and a fixed jump never needs fixing again.
	for pass := 0; ; pass++ {
		if pass > len(a.insns) {
			return nil, errors.New("internal error: jump resolution does not converge")
		}
		far := false
		for i, in := range a.insns {
			if isCondJump(in.code) && (a.offset(i, in.jt) > 255 || a.offset(i, in.jf) > 255) {
				far = true
				break
			}
		}
		if !far {
			break
		}
		a.insertTrampolines()
		if a.overflow {
			return nil, errTooManyLabels
		}
		if len(a.insns) > 4*maxInsns {
			break // hopeless; the size check below reports it
		}
	}
	if len(a.insns) > maxInsns {
		return nil, fmt.Errorf("seccomp filter too large: %d BPF instructions, the kernel allows at most %d", len(a.insns), maxInsns)
	}
	prog := make([]unix.SockFilter, len(a.insns))
	for i, in := range a.insns {
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch {
		case in.code == opJa:
			off := a.offset(i, in.jt)
			if off < 0 {
				return nil, fmt.Errorf("internal error: backward jump at %d", i)
			}
			f.K = uint32(off)
		case isCondJump(in.code):
			t, e := a.offset(i, in.jt), a.offset(i, in.jf)
			if t < 0 || e < 0 || t > 255 || e > 255 {
				return nil, fmt.Errorf("internal error: jump offsets %d/%d at %d", t, e, i)
			}
			f.Jt, f.Jf = uint8(t), uint8(e)
		}
		prog[i] = f
	}
	return prog, nil
}

// offset is the BPF jump offset from instruction i to label l.
func (a *assembler) offset(i int, l label) int {
	return int(a.labels[l]) - i - 1
}

// insertTrampolines adds a JA after every conditional jump whose true or
// false target is out of range, and points that jump at it. It works in
// place, from the back, so the instruction slice is reallocated at most once.
func (a *assembler) insertTrampolines() {
	type fix struct {
		i     int   // index of the conditional jump
		t, f  bool  // true/false target needs a trampoline
		extra int32 // trampolines inserted up to and including this jump
	}
	var fixes []fix
	var extra int32
	for i, in := range a.insns {
		if !isCondJump(in.code) {
			continue
		}
		t, f := a.offset(i, in.jt) > 255, a.offset(i, in.jf) > 255
		if t || f {
			if t {
				extra++
			}
			if f {
				extra++
			}
			fixes = append(fixes, fix{i: i, t: t, f: f, extra: extra})
		}
	}
	// Labels move by the trampolines inserted before their position.
	shift := func(pos int32) int32 {
		k := sort.Search(len(fixes), func(k int) bool { return int32(fixes[k].i) >= pos })
		if k == 0 {
			return pos
		}
		return pos + fixes[k-1].extra
	}
	for l, pos := range a.labels {
		a.labels[l] = shift(pos)
	}
	n := len(a.insns)
	a.insns = slices.Grow(a.insns, int(extra))[:n+int(extra)]
	src, dst := n, n+int(extra)
	for k := len(fixes) - 1; k >= 0; k-- {
		fx := fixes[k]
		cnt := src - (fx.i + 1)
		dst -= cnt
		copy(a.insns[dst:dst+cnt], a.insns[fx.i+1:src])
		jmp := a.insns[fx.i]
		if fx.f {
			dst--
			a.insns[dst] = insn{code: opJa, jt: jmp.jf}
			jmp.jf = a.newLabel()
			a.labels[jmp.jf] = int32(dst)
		}
		if fx.t {
			dst--
			a.insns[dst] = insn{code: opJa, jt: jmp.jt}
			jmp.jt = a.newLabel()
			a.labels[jmp.jt] = int32(dst)
		}
		dst--
		a.insns[dst] = jmp
		src = fx.i
	}
}

// validate checks prog against the rules the kernel applies to a seccomp
// filter (bpf_check_classic and seccomp_check_filter): 1..BPF_MAXINSNS
// instructions, only opcodes seccomp accepts, aligned loads inside struct
// seccomp_data, scratch memory indices < 16, no constant division by zero
// or oversized shift, every jump inside the program, and a RET at the end.
// (The kernel's additional check that scratch memory is written before it is
// read is not repeated; the compiler never uses scratch memory.)
func validate(prog []unix.SockFilter) error {
	n := len(prog)
	if n == 0 {
		return errors.New("empty BPF program")
	}
	if n > maxInsns {
		return fmt.Errorf("BPF program has %d instructions, more than the kernel's %d", n, maxInsns)
	}
	for i, f := range prog {
		switch f.Code {
		case opLdAbsW:
			if f.K%4 != 0 || f.K >= seccompDataSize {
				return fmt.Errorf("instruction %d: load at offset %d outside struct seccomp_data or unaligned", i, f.K)
			}
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN, unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN,
			unix.BPF_LD | unix.BPF_IMM, unix.BPF_LDX | unix.BPF_IMM,
			unix.BPF_MISC | unix.BPF_TAX, unix.BPF_MISC | unix.BPF_TXA,
			unix.BPF_RET | unix.BPF_K, unix.BPF_RET | unix.BPF_A,
			unix.BPF_ALU | unix.BPF_NEG:
		case unix.BPF_LD | unix.BPF_MEM, unix.BPF_LDX | unix.BPF_MEM, unix.BPF_ST, unix.BPF_STX:
			if f.K >= 16 {
				return fmt.Errorf("instruction %d: scratch memory index %d out of range", i, f.K)
			}
		case unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K, unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K:
			if f.K == 0 {
				return fmt.Errorf("instruction %d: division by constant zero", i)
			}
		case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K, unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			if f.K >= 32 {
				return fmt.Errorf("instruction %d: shift by %d", i, f.K)
			}
		case unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_SUB | unix.BPF_K, unix.BPF_ALU | unix.BPF_SUB | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_MUL | unix.BPF_K, unix.BPF_ALU | unix.BPF_MUL | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_DIV | unix.BPF_X, unix.BPF_ALU | unix.BPF_MOD | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_ALU | unix.BPF_AND | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_OR | unix.BPF_K, unix.BPF_ALU | unix.BPF_OR | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_XOR | unix.BPF_K, unix.BPF_ALU | unix.BPF_XOR | unix.BPF_X,
			unix.BPF_ALU | unix.BPF_LSH | unix.BPF_X, unix.BPF_ALU | unix.BPF_RSH | unix.BPF_X:
		case opJa:
			if uint64(f.K) >= uint64(n-i-1) {
				return fmt.Errorf("instruction %d: jump by %d leaves the program", i, f.K)
			}
		case opJeqK, opJgtK, opJgeK, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_X, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_X:
			if int(f.Jt) >= n-i-1 || int(f.Jf) >= n-i-1 {
				return fmt.Errorf("instruction %d: jump (%d, %d) leaves the program", i, f.Jt, f.Jf)
			}
		default:
			return fmt.Errorf("instruction %d: opcode %#x not allowed in seccomp filters", i, f.Code)
		}
	}
	if last := prog[n-1].Code; last != unix.BPF_RET|unix.BPF_K && last != unix.BPF_RET|unix.BPF_A {
		return fmt.Errorf("BPF program does not end in RET (last opcode %#x)", last)
	}
	return nil
}

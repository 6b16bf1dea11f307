package seccomp

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// seccompData mirrors struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

// word returns the native-endian (little-endian) 32-bit word at off, as a
// BPF_LD|BPF_W|BPF_ABS on a little-endian kernel sees it.
func (d *seccompData) word(off uint32) (uint32, error) {
	if off%4 != 0 || off >= seccompDataSize {
		return 0, fmt.Errorf("load at %d outside seccomp_data", off)
	}
	var v uint64
	switch {
	case off == 0:
		return d.nr, nil
	case off == 4:
		return d.arch, nil
	case off < 16:
		v = d.ip
	default:
		v = d.args[(off-16)/8]
	}
	if off%8 == 0 {
		return uint32(v), nil
	}
	return uint32(v >> 32), nil
}

// runBPF interprets a classic BPF seccomp program on d, the way the kernel
// does, and returns the RET value. It fails on anything the kernel would
// reject at run time or load time (bad opcode, jump out of the program,
// falling off the end).
func runBPF(prog []unix.SockFilter, d seccompData) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	n := len(prog)
	if n == 0 || n > maxInsns {
		return 0, fmt.Errorf("program length %d", n)
	}
	for pc := 0; pc < n; pc++ {
		f := prog[pc]
		jump := func(cond bool) error {
			off := int(f.Jf)
			if cond {
				off = int(f.Jt)
			}
			if pc+off+1 >= n {
				return fmt.Errorf("pc %d: jump by %d out of program", pc, off)
			}
			pc += off
			return nil
		}
		src := f.K
		if f.Code&unix.BPF_X != 0 && f.Code&0x07 != unix.BPF_LD && f.Code&0x07 != unix.BPF_LDX && f.Code&0x07 != unix.BPF_RET {
			src = x
		}
		var err error
		switch f.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a, err = d.word(f.K)
		case unix.BPF_LD | unix.BPF_W | unix.BPF_LEN:
			a = seccompDataSize
		case unix.BPF_LDX | unix.BPF_W | unix.BPF_LEN:
			x = seccompDataSize
		case unix.BPF_LD | unix.BPF_IMM:
			a = f.K
		case unix.BPF_LDX | unix.BPF_IMM:
			x = f.K
		case unix.BPF_LD | unix.BPF_MEM:
			a = mem[f.K&15]
		case unix.BPF_LDX | unix.BPF_MEM:
			x = mem[f.K&15]
		case unix.BPF_ST:
			mem[f.K&15] = a
		case unix.BPF_STX:
			mem[f.K&15] = x
		case unix.BPF_MISC | unix.BPF_TAX:
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a = x
		case unix.BPF_RET | unix.BPF_K:
			return f.K, nil
		case unix.BPF_RET | unix.BPF_A:
			return a, nil
		case unix.BPF_ALU | unix.BPF_NEG:
			a = -a
		case unix.BPF_ALU | unix.BPF_ADD | unix.BPF_K, unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X:
			a += src
		case unix.BPF_ALU | unix.BPF_SUB | unix.BPF_K, unix.BPF_ALU | unix.BPF_SUB | unix.BPF_X:
			a -= src
		case unix.BPF_ALU | unix.BPF_MUL | unix.BPF_K, unix.BPF_ALU | unix.BPF_MUL | unix.BPF_X:
			a *= src
		case unix.BPF_ALU | unix.BPF_DIV | unix.BPF_K, unix.BPF_ALU | unix.BPF_DIV | unix.BPF_X:
			if src == 0 {
				return 0, nil // the kernel returns 0 (kill) on division by zero
			}
			a /= src
		case unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, unix.BPF_ALU | unix.BPF_MOD | unix.BPF_X:
			if src == 0 {
				return 0, nil
			}
			a %= src
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, unix.BPF_ALU | unix.BPF_AND | unix.BPF_X:
			a &= src
		case unix.BPF_ALU | unix.BPF_OR | unix.BPF_K, unix.BPF_ALU | unix.BPF_OR | unix.BPF_X:
			a |= src
		case unix.BPF_ALU | unix.BPF_XOR | unix.BPF_K, unix.BPF_ALU | unix.BPF_XOR | unix.BPF_X:
			a ^= src
		case unix.BPF_ALU | unix.BPF_LSH | unix.BPF_K, unix.BPF_ALU | unix.BPF_LSH | unix.BPF_X:
			a <<= src & 31
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K, unix.BPF_ALU | unix.BPF_RSH | unix.BPF_X:
			a >>= src & 31
		case unix.BPF_JMP | unix.BPF_JA:
			if pc+int(f.K)+1 >= n {
				return 0, fmt.Errorf("pc %d: ja by %d out of program", pc, f.K)
			}
			pc += int(f.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X:
			err = jump(a == src)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X:
			err = jump(a > src)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_X:
			err = jump(a >= src)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_X:
			err = jump(a&src != 0)
		default:
			return 0, fmt.Errorf("pc %d: unknown opcode %#x", pc, f.Code)
		}
		if err != nil {
			return 0, fmt.Errorf("pc %d: %w", pc, err)
		}
	}
	return 0, fmt.Errorf("program fell off its end")
}

// disasm renders prog for failure messages.
func disasm(prog []unix.SockFilter) string {
	var b strings.Builder
	for i, f := range prog {
		var s string
		switch f.Code {
		case opLdAbsW:
			s = fmt.Sprintf("ld [%d]", f.K)
		case opAndK:
			s = fmt.Sprintf("and #%#x", f.K)
		case opJa:
			s = fmt.Sprintf("ja %d", i+1+int(f.K))
		case opJeqK, opJgtK, opJgeK:
			name := map[uint16]string{opJeqK: "jeq", opJgtK: "jgt", opJgeK: "jge"}[f.Code]
			s = fmt.Sprintf("%s #%#x, %d, %d", name, f.K, i+1+int(f.Jt), i+1+int(f.Jf))
		case opRetK:
			s = fmt.Sprintf("ret #%#x", f.K)
		default:
			s = fmt.Sprintf("code %#x jt %d jf %d k %#x", f.Code, f.Jt, f.Jf, f.K)
		}
		fmt.Fprintf(&b, "%4d: %s\n", i, s)
	}
	return b.String()
}

package buildctx

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// symbolicMode is a parsed chmod(1) symbolic mode ("u+x,go-w", "a=rX").
type symbolicMode []modeClause

// modeClause is one comma-separated clause: who and its actions.
type modeClause struct {
	mask    uint32 // the bits who covers; 07777 when who is omitted
	actions []modeAction
}

// modeAction is one operator with its permissions, or a permission copy.
type modeAction struct {
	op    byte   // '+', '-' or '='
	perms uint32 // r, w, x, s, t as mode bits (x as 0111)
	condX bool   // X: execute if a directory or already executable
	copy  byte   // 'u', 'g' or 'o' to copy that class's bits; 0 if none
}

// errSymbolicMode is wrapped by the errors of parseSymbolicMode.
var errSymbolicMode = errors.New("invalid symbolic mode")

// parseSymbolicMode parses a symbolic mode with POSIX chmod's grammar:
// clauses of [ugoa]* followed by one or more [+-=] each with [rwxXst]* or
// one of u, g, o.
func parseSymbolicMode(s string) (symbolicMode, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", errSymbolicMode)
	}
	var m symbolicMode
	for _, clause := range strings.Split(s, ",") {
		c, err := parseClause(clause)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", errSymbolicMode, s, err)
		}
		m = append(m, c)
	}
	return m, nil
}

func parseClause(s string) (modeClause, error) {
	var c modeClause
	i := 0
	for ; i < len(s) && strings.IndexByte("ugoa", s[i]) >= 0; i++ {
		switch s[i] {
		case 'u':
			c.mask |= 0o4700
		case 'g':
			c.mask |= 0o2070
		case 'o':
			c.mask |= 0o1007
		case 'a':
			c.mask |= 0o7777
		}
	}
	if c.mask == 0 {
		c.mask = 0o7777 // no who: all, less a umask of 0
	}
	if i == len(s) {
		return c, fmt.Errorf("clause %q has no operator", s)
	}
	for i < len(s) {
		a := modeAction{op: s[i]}
		if a.op != '+' && a.op != '-' && a.op != '=' {
			return c, fmt.Errorf("unexpected %q in %q", s[i], s)
		}
		i++
		if i < len(s) && strings.IndexByte("ugo", s[i]) >= 0 {
			a.copy = s[i]
			i++
		} else {
			for ; i < len(s) && strings.IndexByte("rwxXst", s[i]) >= 0; i++ {
				switch s[i] {
				case 'r':
					a.perms |= 0o444
				case 'w':
					a.perms |= 0o222
				case 'x':
					a.perms |= 0o111
				case 'X':
					a.condX = true
				case 's':
					a.perms |= 0o6000
				case 't':
					a.perms |= 0o1000
				}
			}
		}
		c.actions = append(c.actions, a)
	}
	return c, nil
}

// apply returns mode (Unix permission bits, 07777) changed by m, for a
// directory if dir.
func (m symbolicMode) apply(mode uint32, dir bool) uint32 {
	for _, c := range m {
		for _, a := range c.actions {
			bits := a.perms
			if a.condX && (dir || mode&0o111 != 0) {
				bits |= 0o111
			}
			switch a.copy {
			case 'u':
				bits = (mode >> 6 & 7) * 0o111
			case 'g':
				bits = (mode >> 3 & 7) * 0o111
			case 'o':
				bits = (mode & 7) * 0o111
			}
			bits &= c.mask
			switch a.op {
			case '+':
				mode |= bits
			case '-':
				mode &^= bits
			case '=':
				mode = mode&^c.mask | bits
			}
		}
	}
	return mode & 0o7777
}

// SetChmod sets spec's Chmod or ChmodSymbolic from a --chmod value, as
// BuildKit reads it: an octal mode up to 07777, or a symbolic mode
// (chmod(1) syntax). Invalid values get BuildKit's error.
func (s *CopySpec) SetChmod(v string) error {
	if n, err := strconv.ParseUint(v, 8, 32); err == nil {
		if n > 0o7777 {
			return chmodError(v)
		}
		m, _ := ParseChmod(v)
		s.Chmod, s.ChmodSymbolic = &m, ""
		return nil
	}
	if v == "" || v[0] >= '0' && v[0] <= '9' {
		return chmodError(v)
	}
	if _, err := parseSymbolicMode(v); err != nil {
		return fmt.Errorf("invalid chmod parameter: '%v': %w", v, err)
	}
	s.Chmod, s.ChmodSymbolic = nil, v
	return nil
}

func chmodError(v string) error {
	return fmt.Errorf("invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", v)
}

// ParseChmod parses an octal --chmod value (up to 07777), with BuildKit's
// error otherwise. See SetChmod for symbolic modes too.
func ParseChmod(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, chmodError(s)
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

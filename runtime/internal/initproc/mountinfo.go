package initproc

import "os"

// mountEntry is what parentMount needs of a /proc/self/mountinfo line.
type mountEntry struct {
	mountpoint string
	shared     bool // a "shared:N" optional field
}

// parentMount returns the mount that holds dir: the one with the longest
// mount point that is dir or one of its parents, from the calling thread's
// view of the mount table; nil if there is none.
func parentMount(dir string) (*mountEntry, error) {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	var best *mountEntry
	for len(b) > 0 {
		line := b
		if i := indexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		m, ok := parseMountinfoLine(string(line))
		if !ok || !pathHasPrefix(dir, m.mountpoint) {
			continue
		}
		if best == nil || len(m.mountpoint) > len(best.mountpoint) {
			best = &m
		}
	}
	return best, nil
}

// parseMountinfoLine parses "id parent maj:min root mountpoint options
// [optional fields...] - fstype source superoptions" (proc(5)).
func parseMountinfoLine(line string) (mountEntry, bool) {
	var f []string
	for len(line) > 0 {
		i := 0
		for i < len(line) && line[i] != ' ' {
			i++
		}
		if i > 0 {
			f = append(f, line[:i])
		}
		if i == len(line) {
			break
		}
		line = line[i+1:]
	}
	if len(f) < 7 {
		return mountEntry{}, false
	}
	m := mountEntry{mountpoint: unescapeOctal(f[4])}
	for _, o := range f[6:] {
		if o == "-" {
			break
		}
		if len(o) > 7 && o[:7] == "shared:" {
			m.shared = true
		}
	}
	return m, true
}

// unescapeOctal undoes the kernel's \ooo escapes of space, tab, newline
// and backslash in mountinfo paths.
func unescapeOctal(s string) string {
	if indexByte([]byte(s), '\\') < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			out = append(out, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// pathHasPrefix reports whether p is dir or below it.
func pathHasPrefix(p, dir string) bool {
	if dir == "/" {
		return len(p) > 0 && p[0] == '/'
	}
	return p == dir || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}

// indexByte is bytes.IndexByte.
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

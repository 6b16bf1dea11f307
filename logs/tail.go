package logs

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// tailStart returns where the last n entries of files begin: the index of
// a file and an offset in it. n < 0 means everything.
func tailStart(files []*logFile, n int) (int, int64, error) {
	if n < 0 || len(files) == 0 {
		return 0, 0, nil
	}
	last := len(files) - 1
	if n == 0 {
		return last, files[last].size, nil
	}
	t := tailer{buf: make([]byte, readChunk)}
	for i := last; i >= 0; i-- {
		off, found, err := t.find(files[i], n)
		if err != nil {
			return 0, 0, err
		}
		if n -= found; n == 0 {
			return i, off, nil
		}
	}
	return 0, 0, nil
}

// tailer finds the last entries of a file by reading it backwards in
// chunks.
type tailer struct {
	f       *os.File
	buf     []byte // chunk buffer
	lo      int64  // file offset of buf[0]
	n       int    // bytes of the file in buf
	line    []byte // a line longer than what buf holds
	scratch []byte // decoded "log" fields, unused
}

// find returns the offset of the n-th valid entry from the end of lf, or
// 0 and the number of valid entries if lf has fewer.
func (t *tailer) find(lf *logFile, n int) (int64, int, error) {
	t.f, t.lo, t.n = lf.f, 0, 0
	found := 0
	for end := lf.size; end > 0; {
		nl, err := t.lastNewline(end)
		if err != nil {
			return 0, 0, err
		}
		start := nl + 1
		if l := end - start; l > 0 && l <= maxLineBytes {
			var line []byte
			if start >= t.lo && end <= t.lo+int64(t.n) {
				line = t.buf[start-t.lo : end-t.lo]
			} else {
				t.line = append(t.line[:0], make([]byte, l)...)
				if _, err := t.f.ReadAt(t.line, start); err != nil {
					return 0, 0, err
				}
				line = t.line
			}
			var err error
			if _, t.scratch, err = parseLine(line, t.scratch); err == nil {
				if found++; found == n {
					return start, found, nil
				}
			}
		}
		end = nl
	}
	return 0, found, nil
}

// lastNewline returns the offset of the last newline before off, or -1.
func (t *tailer) lastNewline(off int64) (int64, error) {
	for off > 0 {
		if off <= t.lo || off > t.lo+int64(t.n) {
			lo := max(0, off-int64(len(t.buf)))
			n, err := t.f.ReadAt(t.buf[:off-lo], lo)
			if err != nil && !(errors.Is(err, io.EOF) && n == int(off-lo)) {
				return 0, err
			}
			t.lo, t.n = lo, n
		}
		if i := bytes.LastIndexByte(t.buf[:off-t.lo], '\n'); i >= 0 {
			return t.lo + int64(i), nil
		}
		off = t.lo
	}
	return -1, nil
}

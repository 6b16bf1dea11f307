// Package logs reads and writes container log files in Docker's json-file
// format, so that hull's log files look exactly like Docker's:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-12-01T10:00:00.123456789Z"}
//
// one JSON object per line. The "log" field holds the bytes the container
// wrote, including the trailing newline when the line ended; a line longer
// than MaxEntrySize is split into partial entries whose "log" has no
// trailing newline, as Docker does. Times are RFC 3339 with nanoseconds, in
// UTC.
//
// A Writer (used by the container monitor) appends entries for a
// container's stdout and stderr and rotates the file like Docker's
// --log-opt max-size / max-file: path.1 is the newest old file, path.N the
// oldest. Read (used by `hull logs`) reads the rotated files and the
// current one in order, with Docker's --since, --until, --tail and
// --follow semantics, and skips lines it cannot decode, such as a line torn
// by a crash.
package logs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Names of the two streams a container writes.
const (
	// Stdout is the stream name of a container's standard output.
	Stdout = "stdout"
	// Stderr is the stream name of a container's standard error.
	Stderr = "stderr"
)

// MaxEntrySize is the largest "log" field a Writer emits, in bytes,
// including the trailing newline. A longer line is split into partial
// entries of at most this size, as Docker's log copier does.
const MaxEntrySize = 16 << 10

// ErrCorrupt is wrapped by the errors of ParseLine for lines that are not
// valid json-file entries.
var ErrCorrupt = errors.New("corrupt log entry")

// Entry is one log entry: a line, or a piece of one, written by a
// container to one of its streams.
type Entry struct {
	// Stream is Stdout or Stderr.
	Stream string
	// Time is when the monitor received the data.
	Time time.Time
	// Line is the data, including the trailing newline if the line ended
	// in this entry.
	Line []byte
}

// Partial reports whether e is a piece of a longer line, or the last bytes
// a stream wrote without a newline: its Line does not end in a newline.
func (e Entry) Partial() bool {
	return len(e.Line) == 0 || e.Line[len(e.Line)-1] != '\n'
}

// AppendEntry appends e to dst as one json-file line, with its trailing
// newline, and returns the extended buffer. The encoding is Docker's: the
// characters <, > and &, control characters other than \n and \r, and
// U+2028/U+2029 are written as \u escapes, and invalid UTF-8 bytes become
// U+FFFD.
func AppendEntry(dst []byte, e Entry) []byte {
	var ts [64]byte
	return appendEntry(dst, e.Line, e.Stream, e.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano))
}

// appendEntry is AppendEntry with the time already formatted, so that a
// Writer formats it once for all the lines of one write.
func appendEntry(dst, line []byte, stream string, ts []byte) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendEscaped(dst, line)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream...)
	dst = append(dst, `","time":"`...)
	dst = append(dst, ts...)
	return append(dst, "\"}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendEscaped appends s to dst escaped as the contents of a JSON string,
// the way Docker's json-file driver escapes it.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// Parse errors. They are static so that Read, which skips corrupt lines,
// does not allocate for them.
var (
	errSyntax    error = corruptError("invalid JSON")
	errDepth     error = corruptError("JSON nested too deeply")
	errNoStream  error = corruptError("missing or unknown stream")
	errNoTime    error = corruptError("missing time")
	errBadTime   error = corruptError("invalid time")
	errBadString error = corruptError("invalid string value")
)

// maxDepth bounds the nesting of values skipped in unknown fields.
const maxDepth = 32

// ParseLine decodes one json-file line (with or without its trailing
// newline). It accepts the fields Docker writes ("log", "stream", "time"
// and "attrs", which is ignored) in any order and ignores unknown ones; a
// missing "log" is an empty line, as Docker omits it then. Stream must be
// Stdout or Stderr and time must be RFC 3339. The returned Line is a new
// slice, not aliasing b. Errors wrap ErrCorrupt.
func ParseLine(b []byte) (Entry, error) {
	e, _, err := parseLine(b, nil)
	if err != nil {
		return Entry{}, fmt.Errorf("parse log line: %w", err)
	}
	if e.Line == nil {
		e.Line = []byte{}
	}
	return e, nil
}

// parseLine is ParseLine decoding the "log" field into dst[:0] (grown as
// needed). It returns the entry, whose Line aliases the returned buffer,
// and the buffer for reuse.
func parseLine(b, dst []byte) (Entry, []byte, error) {
	var e Entry
	p := parser{b: b}
	if !p.consume('{') {
		return e, dst, errSyntax
	}
	var haveStream, haveTime bool
	line := dst[:0]
	for first := true; ; first = false {
		p.skipSpace()
		if first && p.consume('}') {
			break
		}
		key, esc, ok := p.str()
		if !ok || !p.consume(':') {
			return e, dst, errSyntax
		}
		p.skipSpace()
		if esc {
			key = nil // an escaped key is none of ours
		}
		switch string(key) {
		case "log":
			raw, esc, ok := p.str()
			if !ok {
				return e, dst, errBadString
			}
			if line, ok = unescape(line[:0], raw, esc); !ok {
				return e, dst, errBadString
			}
		case "stream":
			raw, esc, ok := p.str()
			if !ok {
				return e, dst, errBadString
			}
			var sb [16]byte
			s, ok := unescape(sb[:0], raw, esc)
			switch {
			case !ok:
				return e, dst, errBadString
			case string(s) == Stdout:
				e.Stream = Stdout
			case string(s) == Stderr:
				e.Stream = Stderr
			default:
				return e, dst, errNoStream
			}
			haveStream = true
		case "time":
			raw, esc, ok := p.str()
			if !ok {
				return e, dst, errBadString
			}
			var tb [64]byte
			s, ok := unescape(tb[:0], raw, esc)
			if !ok {
				return e, dst, errBadString
			}
			t, err := parseTime(s)
			if err != nil {
				return e, dst, errBadTime
			}
			e.Time = t
			haveTime = true
		default:
			if err := p.skipValue(0); err != nil {
				return e, dst, err
			}
		}
		p.skipSpace()
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			return e, dst, errSyntax
		}
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return e, dst, errSyntax
	}
	if !haveStream {
		return e, dst, errNoStream
	}
	if !haveTime {
		return e, dst, errNoTime
	}
	e.Line = line
	return e, line, nil
}

// parser is a small JSON scanner over one line.
type parser struct {
	b []byte
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (p *parser) consume(c byte) bool {
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string at the current position and returns its raw
// contents (between the quotes) and whether they contain escapes.
func (p *parser) str() (raw []byte, esc, ok bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false, false
	}
	start := p.i + 1
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			p.i = i + 1
			return p.b[start:i], esc, true
		case c == '\\':
			esc = true
			i++ // the escaped byte; unescape validates it
		case c < 0x20:
			return nil, false, false
		}
	}
	return nil, false, false
}

// skipValue skips one JSON value of any kind.
func (p *parser) skipValue(depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	p.skipSpace()
	if p.i >= len(p.b) {
		return errSyntax
	}
	switch c := p.b[p.i]; c {
	case '"':
		raw, esc, ok := p.str()
		if !ok {
			return errSyntax
		}
		if esc {
			var sb [64]byte
			if _, ok := unescape(sb[:0], raw, true); !ok {
				return errSyntax
			}
		}
		return nil
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		if p.consume(end) {
			return nil
		}
		for {
			if c == '{' {
				p.skipSpace()
				if _, _, ok := p.str(); !ok || !p.consume(':') {
					return errSyntax
				}
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			if p.consume(end) {
				return nil
			}
			if !p.consume(',') {
				return errSyntax
			}
		}
	default:
		// A number or a literal: accept the characters they are made of
		// and check the literals.
		start := p.i
		for p.i < len(p.b) && strings.IndexByte("+-.0123456789eEaflnrstu", p.b[p.i]) >= 0 {
			p.i++
		}
		tok := p.b[start:p.i]
		switch {
		case len(tok) == 0:
			return errSyntax
		case tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9'):
			for _, c := range tok {
				if (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' && c != 'e' && c != 'E' {
					return errSyntax
				}
			}
			return nil
		case string(tok) == "true" || string(tok) == "false" || string(tok) == "null":
			return nil
		}
		return errSyntax
	}
}

// unescape appends the decoded contents of a JSON string to dst. Unpaired
// surrogates decode to U+FFFD, as in encoding/json; invalid UTF-8 is kept
// as is.
func unescape(dst, raw []byte, esc bool) ([]byte, bool) {
	if !esc {
		return append(dst, raw...), true
	}
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return append(dst, raw[i:]...), true
		}
		dst = append(dst, raw[i:i+j]...)
		i += j + 1
		if i >= len(raw) {
			return dst, false
		}
		c := raw[i]
		i++
		switch c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(raw[i:])
			if !ok {
				return dst, false
			}
			i += 4
			if r >= 0xd800 && r < 0xdc00 {
				// A high surrogate: a low one must follow to make a rune.
				if len(raw) >= i+6 && raw[i] == '\\' && raw[i+1] == 'u' {
					if lo, ok := hex4(raw[i+2:]); ok && lo >= 0xdc00 && lo < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
						i += 6
					}
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, false
		}
	}
	return dst, true
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// parseTime parses an RFC 3339 time. The common case, a UTC time as
// Docker and hull write it, is parsed without allocating; anything else
// goes through time.Parse.
func parseTime(s []byte) (time.Time, error) {
	// 2006-01-02T15:04:05[.fraction]Z
	if len(s) >= 20 && s[len(s)-1] == 'Z' && s[4] == '-' && s[7] == '-' &&
		s[10] == 'T' && s[13] == ':' && s[16] == ':' {
		year, ok1 := digits(s[0:4])
		month, ok2 := digits(s[5:7])
		day, ok3 := digits(s[8:10])
		hour, ok4 := digits(s[11:13])
		minute, ok5 := digits(s[14:16])
		sec, ok6 := digits(s[17:19])
		frac := s[19 : len(s)-1]
		nsec, ok7 := 0, true
		if len(frac) > 0 {
			ok7 = frac[0] == '.' && len(frac) >= 2 && len(frac) <= 10
			if ok7 {
				nsec, ok7 = digits(frac[1:])
				for i := len(frac) - 1; i < 9; i++ {
					nsec *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && hour < 24 && minute < 60 && sec < 60 {
			t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
			if t.Month() == time.Month(month) && t.Day() == day {
				return t, nil
			}
		}
		// Not the common form after all: let time.Parse judge it.
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time: %w", err)
	}
	return t, nil
}

// digits decodes a run of decimal digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// corruptError is a decoding error that wraps ErrCorrupt (a type rather
// than fmt.Errorf values, so nothing is formatted when hull starts).
type corruptError string

func (e corruptError) Error() string { return ErrCorrupt.Error() + ": " + string(e) }

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e corruptError) Unwrap() error { return ErrCorrupt }

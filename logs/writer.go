package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by writes to a closed Writer or stream.
var ErrClosed = errors.New("log writer closed")

// Options configure a Writer's rotation, like Docker's json-file
// --log-opt max-size and max-file.
type Options struct {
	// MaxSize is the size in bytes a log file may reach before it is
	// rotated; 0 disables rotation. Like Docker, the check is made before
	// each entry, so a file may pass MaxSize by one entry.
	MaxSize int64
	// MaxFiles is the number of files kept, the current one included:
	// at most MaxFiles-1 rotated files path.1 (newest) … path.N. 0 means
	// 1, Docker's default, which keeps no old file. Only used with
	// MaxSize.
	MaxFiles int
}

// Writer appends log entries to a json-file log. It is safe for
// concurrent use: each entry is written with a single write(2) on an
// O_APPEND file, so entries of different streams never interleave.
type Writer struct {
	path string
	opts Options

	mu      sync.Mutex
	f       *os.File // nil once closed
	size    int64    // bytes in f
	torn    bool     // the last write to f was short: terminate its line first
	streams map[*stream]struct{}
}

// Create opens the log file at path for appending, creating it with mode
// 0640 if needed. If the file ends in a line torn by a crash, a newline is
// appended first so that the next entry starts on a line of its own.
func Create(path string, opts Options) (*Writer, error) {
	if opts.MaxSize < 0 || opts.MaxFiles < 0 {
		return nil, fmt.Errorf("create log %s: negative max-size or max-file", path)
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = 1
	}
	f, size, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	w := &Writer{path: path, opts: opts, f: f, size: size, streams: map[*stream]struct{}{}}
	if size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], size-1); err != nil {
			f.Close()
			return nil, fmt.Errorf("create log: check last line of %s: %w", path, err)
		}
		w.torn = last[0] != '\n'
	}
	return w, nil
}

// openAppend opens path for appending (and reading, to look at its end).
func openAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// Stream returns a writer for the stream named name, Stdout or Stderr (any
// other name panics). It splits what is written to it into lines, one
// entry each, keeping an unfinished line until its newline arrives, it
// reaches MaxEntrySize (then it is written as a partial entry), or the
// stream is closed (then it is written without a newline). Close does not
// close w. A stream may be used from several goroutines, though its lines
// then mix in the order the writes happen.
//
// Write returns the first error writing the file; a caller that must keep
// draining a container's pipe should carry on after reporting it.
func (w *Writer) Stream(name string) io.WriteCloser {
	if name != Stdout && name != Stderr {
		panic("logs: unknown stream " + strconv.Quote(name))
	}
	s := &stream{w: w, name: name}
	w.mu.Lock()
	if w.f != nil {
		w.streams[s] = struct{}{}
	} else {
		s.closed = true
	}
	w.mu.Unlock()
	return s
}

// Close flushes the unfinished lines of streams still open, as Close on
// each of them would, and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	open := make([]*stream, 0, len(w.streams))
	for s := range w.streams {
		open = append(open, s)
	}
	w.mu.Unlock()
	var errs []error
	for _, s := range open {
		errs = append(errs, s.Close())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.Join(errs...)
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close log %s: %w", w.path, err))
	}
	w.f = nil
	return errors.Join(errs...)
}

// batch holds encoded entries waiting to be written: buf, with ends[i]
// the end of entry i in buf. Batches are pooled so that a Writer does not
// allocate per line and idle containers hold no encoding buffers.
type batch struct {
	buf  []byte
	ends []int
	ts   []byte // the formatted time of the entries
}

var batchPool = sync.Pool{New: func() any { return &batch{buf: make([]byte, 0, 4096)} }}

// flushSize is the amount of encoded entries after which a long write is
// written out before the rest of it is encoded.
const flushSize = 256 << 10

func (b *batch) add(line []byte, stream string) {
	b.buf = appendEntry(b.buf, line, stream, b.ts)
	b.ends = append(b.ends, len(b.buf))
}

func (b *batch) reset() {
	b.buf = b.buf[:0]
	b.ends = b.ends[:0]
}

func putBatch(b *batch) {
	if cap(b.buf) > 4*flushSize {
		return // a one-off giant; let it go
	}
	b.reset()
	batchPool.Put(b)
}

// stream is the io.WriteCloser returned by Writer.Stream.
type stream struct {
	w    *Writer
	name string

	mu      sync.Mutex
	pending []byte // unfinished line, shorter than MaxEntrySize
	closed  bool
}

// Write logs p: complete lines as entries, the rest kept for later.
func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	b := batchPool.Get().(*batch)
	defer putBatch(b)
	b.ts = time.Now().UTC().AppendFormat(b.ts[:0], time.RFC3339Nano)
	n := len(p)
	for len(p) > 0 {
		room := MaxEntrySize - len(s.pending)
		if i := bytes.IndexByte(p[:min(len(p), room)], '\n'); i >= 0 {
			b.add(s.take(p[:i+1]), s.name)
			p = p[i+1:]
		} else if len(p) < room {
			s.pending = append(s.pending, p...)
			p = nil
		} else {
			// A full entry without a newline: write it as a partial entry,
			// keeping back a rune cut in two so both halves stay valid.
			line := s.take(p[:room])
			keep := incompleteRune(line)
			b.add(line[:len(line)-keep], s.name)
			s.pending = append(s.pending[:0], line[len(line)-keep:]...)
			p = p[room:]
		}
		if len(b.buf) >= flushSize {
			if err := s.w.write(b); err != nil {
				return n - len(p), err
			}
			b.reset()
		}
	}
	if len(b.ends) > 0 {
		if err := s.w.write(b); err != nil {
			return n - len(p), err
		}
	}
	return n, nil
}

// take returns the pending bytes followed by p, and empties pending. The
// result is only valid until pending is next appended to.
func (s *stream) take(p []byte) []byte {
	if len(s.pending) == 0 {
		return p
	}
	line := append(s.pending, p...)
	s.pending = line[:0]
	return line
}

// incompleteRune returns the length of the unfinished UTF-8 sequence at
// the end of b, if any.
func incompleteRune(b []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return 0
		}
		if c >= 0xc0 { // a leading byte
			if utf8.FullRune(b[len(b)-i:]) {
				return 0
			}
			return i
		}
	}
	return 0
}

// Close writes the unfinished line, if any, as an entry without a newline
// and closes the stream. It does not close the Writer.
func (s *stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.w.mu.Lock()
	delete(s.w.streams, s)
	s.w.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	b := batchPool.Get().(*batch)
	defer putBatch(b)
	b.ts = time.Now().UTC().AppendFormat(b.ts[:0], time.RFC3339Nano)
	b.add(s.pending, s.name)
	s.pending = nil
	return s.w.write(b)
}

// write appends the entries of b to the file, rotating it first whenever
// it has reached MaxSize. Entries between rotations go out in one
// write(2).
func (w *Writer) write(b *batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return ErrClosed
	}
	start, i := 0, 0
	for i < len(b.ends) {
		if w.opts.MaxSize > 0 && w.size >= w.opts.MaxSize {
			if err := w.rotate(); err != nil {
				return err
			}
		}
		// Take entries while the file is below MaxSize before each.
		end := b.ends[i]
		for i++; i < len(b.ends) && (w.opts.MaxSize == 0 || w.size+int64(end-start) < w.opts.MaxSize); i++ {
			end = b.ends[i]
		}
		if err := w.writeFile(b.buf[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// writeFile writes p, whole entries, with one write(2).
func (w *Writer) writeFile(p []byte) error {
	if w.torn {
		// Terminate the torn line so it does not swallow the next entry.
		if _, err := w.f.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("write log %s: %w", w.path, err)
		}
		w.size++
		w.torn = false
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		w.torn = n > 0
		return fmt.Errorf("write log %s: %w", w.path, err)
	}
	return nil
}

// rotate starts a new file at path: the current one becomes path.1 and
// the rotated ones move up (path.i to path.i+1), the oldest being
// removed; with MaxFiles 1 the current one is simply replaced. The new
// file is renamed over path, so path always exists.
//
// Readers take a shared flock on the current file while they list the
// files; rotate holds an exclusive one so that they never see a rotation
// half done.
func (w *Writer) rotate() error {
	old := w.f
	fd := int(old.Fd())
	locked := lockExclusive(fd)
	tmp := w.path + rotatingSuffix
	fail := func(err error) error {
		os.Remove(tmp)
		if locked {
			unix.Flock(fd, unix.LOCK_UN)
		}
		return fmt.Errorf("rotate log: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fail(err)
	}
	if err := w.shiftFiles(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := os.Rename(tmp, w.path); err != nil {
		// Keep writing to the old file rather than lose entries; the next
		// write tries again.
		f.Close()
		return fail(err)
	}
	w.f, w.size = f, 0
	// Closing old releases the lock.
	if err := old.Close(); err != nil {
		return fmt.Errorf("rotate log: close %s: %w", w.path, err)
	}
	return nil
}

// rotatingSuffix names the new file while a rotation prepares it.
const rotatingSuffix = ".rotating"

// shiftFiles moves the rotated files up, dropping the oldest, and links
// the current file as path.1 (or, where hard links fail, renames it).
func (w *Writer) shiftFiles() error {
	if w.opts.MaxFiles <= 1 {
		return nil
	}
	last := rotatedName(w.path, w.opts.MaxFiles-1)
	if err := os.Remove(last); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for i := w.opts.MaxFiles - 2; i >= 1; i-- {
		err := os.Rename(rotatedName(w.path, i), rotatedName(w.path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Link(w.path, rotatedName(w.path, 1)); err == nil {
		return nil
	}
	return os.Rename(w.path, rotatedName(w.path, 1))
}

// lockExclusive takes an exclusive flock on fd, giving up after a short
// while: a reader holds its shared lock only for a few opens, so a lock
// held longer belongs to a stopped reader, which must not stall the
// container.
func lockExclusive(fd int) bool {
	for range 50 {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return true
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// rotatedName returns the name of the i-th rotated file, path.i.
func rotatedName(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}

package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ReadOptions select what Read passes on, like the options of
// `docker logs`.
type ReadOptions struct {
	// Since and Until bound the entries' times, both inclusive; the zero
	// time leaves that end open.
	Since, Until time.Time
	// Tail is the number of entries to show from the end of the logs,
	// counted over both streams and before Since and Until are applied,
	// as Docker counts them; -1 (or any negative) shows all, and 0 none.
	Tail int
	// Follow keeps reading what is appended to the log, across rotations,
	// until Done is closed, Until has passed, or the context ends.
	Follow bool
	// Done, when Follow is set, tells Read that the container has exited:
	// Read then reads what is left and returns nil.
	Done <-chan struct{}
	// Stdout and Stderr select the streams; at least one must be set.
	Stdout, Stderr bool
}

// pollInterval bounds how long a follower takes to notice new data when
// inotify misses it or is unavailable.
const pollInterval = 100 * time.Millisecond

// ctxCheckLines is how many lines Read handles between looks at its
// context.
const ctxCheckLines = 1024

// Read calls fn with the entries of the log at path, oldest first: those
// of the rotated files path.N … path.1 and then those of path. Lines that
// do not decode (a line torn by a crash, say) are skipped. An Entry's Line
// is only valid during the call to fn; fn must copy it to keep it. An error
// from fn stops Read and is returned as is; so is the context's error if
// it ends first.
//
// Without Follow, a missing log is an error wrapping fs.ErrNotExist; with
// Follow, Read waits for the log to appear.
func Read(ctx context.Context, path string, o ReadOptions, fn func(Entry) error) error {
	if !o.Stdout && !o.Stderr {
		return fmt.Errorf("read log %s: no stream selected", path)
	}
	r := &reader{ctx: ctx, path: path, o: o, fn: fn}
	files, err := openChain(path, nil)
	if err != nil && (!o.Follow || !errors.Is(err, fs.ErrNotExist)) {
		return fmt.Errorf("read log: %w", err)
	}
	defer func() { closeFiles(files) }()
	first, off, err := tailStart(files, o.Tail)
	if err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	closeFiles(files[:first])
	files = files[first:]
	if !o.Follow {
		for _, f := range files {
			if err := r.readAll(f, off); err != nil {
				return err
			}
			off = 0
		}
		return nil
	}
	return r.follow(&files, off)
}

// reader is the state of one Read.
type reader struct {
	ctx   context.Context
	path  string
	o     ReadOptions
	fn    func(Entry) error
	lr    lineReader
	dst   []byte // decoded "log" of the current entry
	count int    // lines handled, for the context checks
}

// emit decodes one line and passes it to fn if it is wanted.
func (r *reader) emit(line []byte) error {
	r.count++
	if r.count%ctxCheckLines == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
	}
	e, dst, err := parseLine(line, r.dst)
	r.dst = dst
	if err != nil {
		return nil // corrupt: skip it
	}
	switch {
	case e.Stream == Stdout && !r.o.Stdout, e.Stream == Stderr && !r.o.Stderr:
	case !r.o.Since.IsZero() && e.Time.Before(r.o.Since):
	case !r.o.Until.IsZero() && e.Time.After(r.o.Until):
	default:
		return r.fn(e)
	}
	return nil
}

// drain emits the complete lines available in the current file; with
// final, also the unfinished line at its end, as nothing more will come.
func (r *reader) drain(final bool) error {
	for {
		line, ok, err := r.lr.next()
		if err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		if !ok {
			break
		}
		if err := r.emit(line); err != nil {
			return err
		}
	}
	if final {
		if rest := r.lr.rest(); len(rest) > 0 {
			return r.emit(rest)
		}
	}
	return nil
}

// readAll emits all of f from off on.
func (r *reader) readAll(f *logFile, off int64) error {
	if err := r.lr.reset(f.f, off); err != nil {
		return fmt.Errorf("read log %s: %w", r.path, err)
	}
	return r.drain(true)
}

// follow reads *files (from off in the first) and then what is appended,
// until Done, Until or the context. It takes over closing *files, keeping
// the current file in it.
func (r *reader) follow(files *[]*logFile, off int64) error {
	w := newWatcher(r.path)
	defer w.close()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var until <-chan time.Time
	if !r.o.Until.IsZero() {
		t := time.NewTimer(time.Until(r.o.Until))
		defer t.Stop()
		until = t.C
	}

	var cur *logFile
	// start reads all but the last of *files and makes the last current.
	start := func(off int64) error {
		for len(*files) > 1 {
			if err := r.readAll((*files)[0], off); err != nil {
				return err
			}
			off = 0
			closeFiles((*files)[:1])
			*files = (*files)[1:]
		}
		if len(*files) == 0 {
			return nil
		}
		cur = (*files)[0]
		if err := r.lr.reset(cur.f, off); err != nil {
			return fmt.Errorf("read log %s: %w", r.path, err)
		}
		return nil
	}
	if err := start(off); err != nil {
		return err
	}

	finishing := false
	for {
		if cur == nil {
			// The log does not exist yet.
			chain, err := openChain(r.path, nil)
			switch {
			case err == nil:
				*files = chain
				if err := start(0); err != nil {
					return err
				}
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("read log: %w", err)
			}
		}
		if cur != nil {
			if err := r.drain(false); err != nil {
				return err
			}
			rotated, err := r.rotated(cur)
			if err != nil {
				return err
			}
			if rotated {
				// Everything was written to cur before it was rotated.
				if err := r.drain(true); err != nil {
					return err
				}
				newer, err := openChain(r.path, &cur.id)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("read log: %w", err)
				}
				if len(newer) > 0 {
					closeFiles(*files)
					*files = newer
					if err := start(0); err != nil {
						return err
					}
					continue
				}
			}
		}
		if finishing {
			if cur != nil {
				return r.drain(true)
			}
			return nil
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-r.o.Done:
			finishing = true
		case <-until:
			finishing = true
		case <-w.events():
		case <-ticker.C:
		}
	}
}

// rotated reports whether path no longer names cur. A file that shrank
// under the reader (truncated by someone) is read again from its start.
func (r *reader) rotated(cur *logFile) (bool, error) {
	id, err := statID(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Only a rotation without hard links leaves path missing, and
		// only briefly; look again later.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read log: %w", err)
	}
	if id != cur.id {
		return true, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(cur.f.Fd()), &st); err != nil {
		return false, fmt.Errorf("read log %s: %w", r.path, err)
	}
	if st.Size < r.lr.off {
		if err := r.lr.reset(cur.f, 0); err != nil {
			return false, fmt.Errorf("read log %s: %w", r.path, err)
		}
	}
	return false, nil
}

// fileID identifies a file across renames.
type fileID struct{ dev, ino uint64 }

// logFile is an open log file.
type logFile struct {
	f    *os.File
	id   fileID
	size int64 // when opened
}

func openLogFile(name string) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	return &logFile{f: f, id: fileID{uint64(st.Dev), st.Ino}, size: st.Size}, nil
}

func statID(name string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(name, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

func closeFiles(files []*logFile) {
	for _, f := range files {
		f.f.Close()
	}
}

// maxChainTries bounds how often openChain starts again because the log
// was rotated while it looked.
const maxChainTries = 100

// openChain opens the log at path and its rotated files, oldest first. With
// stop set, it opens only the files newer than stop (all of them if stop
// is gone). It holds a shared flock on the current file while it looks,
// which keeps a Writer from rotating meanwhile.
func openChain(path string, stop *fileID) ([]*logFile, error) {
	for try := range maxChainTries {
		cur, err := openLogFile(path)
		if errors.Is(err, fs.ErrNotExist) && try < maxChainTries-1 {
			// A Writer renames the new file over path, but where hard
			// links fail path is briefly missing in a rotation.
			if _, err := os.Lstat(rotatedName(path, 1)); err == nil {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		files, again, err := listLocked(path, cur, stop)
		if err != nil || !again {
			return files, err
		}
		// A rotation slipped in between the open and the lock. Back off
		// a little longer each time, so a reader that keeps losing the
		// race to a fast writer on a busy CPU gets its turn (at most
		// ~0.25 s in all).
		time.Sleep(time.Duration(try+1) * 50 * time.Microsecond)
	}
	return nil, fmt.Errorf("open %s: log keeps rotating", path)
}

// listLocked locks cur, checks that path still names it and opens the
// rotated files newer than stop. again reports that path was rotated
// meanwhile. cur is closed unless it is returned.
func listLocked(path string, cur *logFile, stop *fileID) (files []*logFile, again bool, err error) {
	fd := int(cur.f.Fd())
	for {
		err = unix.Flock(fd, unix.LOCK_SH)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		cur.f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	if id, err := statID(path); err != nil || id != cur.id {
		cur.f.Close()
		return nil, true, nil
	}
	if stop != nil && *stop == cur.id {
		cur.f.Close()
		return nil, false, nil
	}
	files = []*logFile{cur}
	for i := 1; ; i++ {
		lf, err := openLogFile(rotatedName(path, i))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			closeFiles(files)
			return nil, false, err
		}
		if stop != nil && lf.id == *stop {
			lf.f.Close()
			break
		}
		if slices.ContainsFunc(files, func(f *logFile) bool { return f.id == lf.id }) {
			// Seen already: a rotation got past the lock (see
			// lockExclusive) or is linking the file.
			lf.f.Close()
			continue
		}
		files = append(files, lf)
	}
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	return files, false, nil
}

const (
	// readChunk is the size of a reader's buffer.
	readChunk = 64 << 10
	// maxLineBytes bounds a line the reader decodes; longer ones cannot be
	// ours and are skipped.
	maxLineBytes = 1 << 20
)

// lineReader splits a file into lines, reading it forward.
type lineReader struct {
	f        *os.File
	buf      []byte
	r, w     int   // unread bytes are buf[r:w]
	off      int64 // file offset of buf[w]
	skipping bool  // inside an over-long line
}

// reset starts reading f at off.
func (lr *lineReader) reset(f *os.File, off int64) error {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if lr.buf == nil {
		lr.buf = make([]byte, readChunk)
	}
	lr.f, lr.r, lr.w, lr.off, lr.skipping = f, 0, 0, off, false
	return nil
}

// next returns the next complete line, without its newline, or false if
// the file holds no further complete line for now. The line is valid until
// the next call.
func (lr *lineReader) next() ([]byte, bool, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			line := lr.buf[lr.r : lr.r+i]
			lr.r += i + 1
			if lr.skipping {
				lr.skipping = false
				continue
			}
			return line, true, nil
		}
		if lr.r > 0 {
			lr.w = copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.r = 0
		}
		if lr.w == len(lr.buf) {
			if len(lr.buf) < maxLineBytes {
				lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)
			} else {
				lr.skipping = true
				lr.w = 0
			}
		}
		n, err := lr.f.Read(lr.buf[lr.w:])
		lr.w += n
		lr.off += int64(n)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
}

// rest returns the unfinished line at the end of the data read so far and
// drops it.
func (lr *lineReader) rest() []byte {
	line := lr.buf[lr.r:lr.w]
	lr.r, lr.w = 0, 0
	if lr.skipping {
		lr.skipping = false
		return nil
	}
	return line
}

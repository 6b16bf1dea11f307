package logs

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// watcher wakes a follower when the log's directory sees a change to the
// log or its rotated files, through inotify. A nil *watcher (inotify
// unavailable) never wakes anyone; the follower then polls.
type watcher struct {
	f    *os.File
	wake chan struct{}
	done chan struct{} // closed when run returns
}

// watchMask is what happens to the log, or to its directory entries in a
// rotation.
const watchMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE

// inotifyDisabled makes newWatcher fail, for tests of the polling fallback.
var inotifyDisabled bool

// newWatcher watches the directory of path, or returns nil if it cannot.
func newWatcher(path string) *watcher {
	if inotifyDisabled {
		return nil
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), watchMask); err != nil {
		unix.Close(fd)
		return nil
	}
	// A non-blocking descriptor makes the *os.File use the runtime's
	// poller, so that Close interrupts a pending Read.
	w := &watcher{
		f:    os.NewFile(uintptr(fd), "inotify"),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go w.run(filepath.Base(path))
	return w
}

// inotifyHeader is the size of struct inotify_event without its name.
const inotifyHeader = unix.SizeofInotifyEvent

// run reads events until the watcher is closed, signalling those about
// the log (base) and its rotated files (base.N).
func (w *watcher) run(base string) {
	defer close(w.done)
	buf := make([]byte, 64*(inotifyHeader+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		relevant := false
		for off := 0; off+inotifyHeader <= n; {
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			end := min(off+inotifyHeader+nameLen, n)
			name := bytes.TrimRight(buf[off+inotifyHeader:end], "\x00")
			if mask&unix.IN_Q_OVERFLOW != 0 || isLogName(name, base) {
				relevant = true
			}
			off = end
		}
		if relevant {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// isLogName reports whether name is base or base.N.
func isLogName(name []byte, base string) bool {
	if len(name) < len(base) || string(name[:len(base)]) != base {
		return false
	}
	return len(name) == len(base) || name[len(base)] == '.'
}

// events returns the channel on which w signals changes.
func (w *watcher) events() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.wake
}

// close stops w and waits for its goroutine.
func (w *watcher) close() {
	if w == nil {
		return
	}
	w.f.Close()
	<-w.done
}

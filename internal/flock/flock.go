// Package flock takes advisory whole-file locks (flock(2)) that the
// kernel releases when their holder dies, so a process killed with -9
// never leaves a lock behind.
package flock

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrLocked is returned by TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held lock; Unlock releases it.
type Lock struct{ fd int }

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() {
	if l != nil && l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

// Exclusive waits for an exclusive lock on path, creating the file if
// needed.
func Exclusive(path string) (*Lock, error) { return take(path, unix.LOCK_EX) }

// Shared waits for a shared lock on path, creating the file if needed.
func Shared(path string) (*Lock, error) { return take(path, unix.LOCK_SH) }

// TryExclusive takes an exclusive lock on path without waiting; it
// returns ErrLocked if someone else holds the lock.
func TryExclusive(path string) (*Lock, error) { return take(path, unix.LOCK_EX|unix.LOCK_NB) }

// Held reports whether some process (including this one, through another
// open file) holds an exclusive lock on path. A missing file is not held.
func Held(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	defer unix.Close(fd)
	err = unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	return false, nil
}

func take(path string, how int) (*Lock, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{fd: fd}, nil
}

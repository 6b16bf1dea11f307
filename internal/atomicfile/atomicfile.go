// Package atomicfile replaces files atomically: the new content goes to
// a temp file in the same directory, is fsynced, and is renamed over the
// old one, so a reader (or a process killed mid-way) sees the old or the
// new content, never a mix.
package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes b to path atomically with the permission bits perm,
// durably: the data is fsynced before the rename, the directory after.
// The temp file is named ".NAME.tmp-*" in path's directory.
func WriteFile(path string, b []byte, perm fs.FileMode) error { return write(path, b, perm, true) }

// Replace writes b to path atomically without fsync: a process killed at
// any moment leaves the old or the new content, but a power loss may
// leave an empty file. For state that a reboot makes stale anyway
// (container state, generated runtime files), where fsync's milliseconds
// sit on the container start path.
func Replace(path string, b []byte, perm fs.FileMode) error { return write(path, b, perm, false) }

func write(path string, b []byte, perm fs.FileMode, durable bool) error {
	return stream(path, perm, durable, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteFunc writes what fn writes to path atomically and durably, like
// WriteFile: if fn fails, nothing is left at path (for archives written
// with -o, where a partial file must never appear).
func WriteFunc(path string, perm fs.FileMode, fn func(w io.Writer) error) error {
	return stream(path, perm, true, fn)
}

func stream(path string, perm fs.FileMode, durable bool, fn func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err // fn's own error, as is
	}
	err = f.Chmod(perm)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		// Make the rename itself durable.
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				return fmt.Errorf("write %s: sync directory: %w", path, err)
			}
		}
	}
	return nil
}

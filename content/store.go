// Package content is hull's content-addressed blob store.
//
// Blobs live at root/blobs/<algorithm>/<hex>. A blob is written to a temp
// file under root/tmp, verified against its expected digest and size,
// fsynced and renamed into place, so a blob exists at its final path only
// when it is complete and correct. A crash leaves at most a temp file, which
// the next Open removes.
package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// ErrExists is returned by Writer when the blob is already stored.
var ErrExists = errors.New("blob already exists")

// ErrNotFound is wrapped by lookups of blobs that are not stored.
var ErrNotFound = fs.ErrNotExist

// tmpPrefix names the temp files this package owns in root/tmp.
const tmpPrefix = "blob-"

// Store is a content-addressed blob store rooted at a directory.
type Store struct {
	root string
}

// Open opens (creating if needed) the blob store under root and removes
// temp files left behind by crashed writers.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{s.blobDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	s.cleanTemp()
	return s, nil
}

func (s *Store) blobDir() string { return filepath.Join(s.root, "blobs", "sha256") }
func (s *Store) tmpDir() string  { return filepath.Join(s.root, "tmp") }

// cleanTemp removes stale temp files of writers that no longer run. A live
// writer holds an flock on its temp file, so only unlocked files go.
func (s *Store) cleanTemp() {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		p := filepath.Join(s.tmpDir(), e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			_ = os.Remove(p)
		}
		f.Close()
	}
}

// Path returns the final path of the blob d. It does not check existence.
func (s *Store) Path(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func validate(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: unsupported algorithm %s", d, d.Algorithm())
	}
	return nil
}

// Has reports whether blob d is stored.
func (s *Store) Has(d digest.Digest) bool {
	if validate(d) != nil {
		return false
	}
	_, err := os.Stat(s.Path(d))
	return err == nil
}

// Size returns the size of the stored blob d.
func (s *Store) Size(d digest.Digest) (int64, error) {
	if err := validate(d); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.Path(d))
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", d, err)
	}
	return fi.Size(), nil
}

// Open opens the stored blob d for reading.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return f, nil
}

// Read returns the whole blob d, verified against its digest.
func (s *Store) Read(d digest.Digest) ([]byte, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.Path(d))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s is corrupt: content has digest %s", d, got)
	}
	return b, nil
}

// Put stores b under digest d after verifying it. Storing an existing blob
// is a no-op.
func (s *Store) Put(d digest.Digest, b []byte) error {
	w, err := s.Writer(d, int64(len(b)))
	if errors.Is(err, ErrExists) {
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		return err
	}
	return w.Commit()
}

// Delete removes blob d. Deleting a missing blob is not an error.
func (s *Store) Delete(d digest.Digest) error {
	if err := validate(d); err != nil {
		return err
	}
	if err := os.Remove(s.Path(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Walk calls fn for every stored blob.
func (s *Store) Walk(fn func(d digest.Digest, size int64) error) error {
	entries, err := os.ReadDir(s.blobDir())
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := fn(d, fi.Size()); err != nil {
			return err
		}
	}
	return nil
}

// Writer streams one blob into the store. Write to it, then Commit; Close
// without Commit discards what was written.
type Writer struct {
	s        *Store
	want     digest.Digest
	size     int64
	f        *os.File
	digester digest.Digester
	n        int64
	done     bool
}

// Writer starts writing blob d of the given size (-1 if unknown). It returns
// an error wrapping ErrExists if the blob is already stored.
func (s *Store) Writer(d digest.Digest, size int64) (*Writer, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	if s.Has(d) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrExists)
	}
	f, err := os.CreateTemp(s.tmpDir(), tmpPrefix+d.Encoded()[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("write blob %s: %w", d, err)
	}
	// The lock marks the temp file as live so a concurrent Open does not
	// remove it.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write blob %s: lock temp file: %w", d, err)
	}
	return &Writer{s: s, want: d, size: size, f: f, digester: digest.SHA256.Digester()}, nil
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.size >= 0 && w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("blob %s: more than the expected %d bytes", w.want, w.size)
	}
	n, err := w.f.Write(p)
	w.digester.Hash().Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// Commit verifies size and digest, syncs the data and renames the blob into
// place. If the blob appeared meanwhile (a concurrent writer), Commit still
// succeeds.
func (w *Writer) Commit() error {
	if w.done {
		return fmt.Errorf("blob %s: writer already closed", w.want)
	}
	if w.size >= 0 && w.n != w.size {
		w.Close()
		return fmt.Errorf("blob %s: size mismatch: expected %d bytes, got %d", w.want, w.size, w.n)
	}
	if got := w.digester.Digest(); got != w.want {
		w.Close()
		return fmt.Errorf("blob digest mismatch: expected %s, got %s", w.want, got)
	}
	if err := w.f.Sync(); err != nil {
		w.Close()
		return fmt.Errorf("blob %s: sync: %w", w.want, err)
	}
	_ = w.f.Chmod(0o444)
	if err := os.Rename(w.f.Name(), w.s.Path(w.want)); err != nil {
		w.Close()
		return fmt.Errorf("blob %s: %w", w.want, err)
	}
	w.done = true
	w.f.Close()
	return nil
}

// Close discards an uncommitted blob. It is safe to call after Commit.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	name := w.f.Name()
	w.f.Close()
	return os.Remove(name)
}

// SyncDir fsyncs the blob directory so renames are durable.
func (s *Store) SyncDir() error {
	d, err := os.Open(s.blobDir())
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Age returns how long ago blob d was written; GC uses it to spare blobs
// that a concurrent writer may not have recorded yet.
func (s *Store) Age(d digest.Digest) (time.Duration, error) {
	fi, err := os.Stat(s.Path(d))
	if err != nil {
		return 0, err
	}
	return time.Since(fi.ModTime()), nil
}

// TempFile creates a scratch file under root/tmp that a concurrent Open will
// not remove while the caller holds it open; after a crash it is removed.
// The caller closes and removes it.
func (s *Store) TempFile(label string) (*os.File, error) {
	f, err := os.CreateTemp(s.tmpDir(), tmpPrefix+label)
	if err != nil {
		return nil, fmt.Errorf("temp file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("temp file: %w", err)
	}
	return f, nil
}

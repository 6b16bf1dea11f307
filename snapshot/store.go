// Package snapshot is hull's store of unpacked, read-only image layers and
// its safe layer tar extractor.
//
// A layer is unpacked into root/snapshots/<algorithm>/<hex>/, keyed by its
// diffID (the digest of the uncompressed tar), with whiteouts in overlayfs
// form so the directory can be used as an overlayfs lowerdir as it is.
// Extraction happens in a temp dir under root/tmp that is renamed into place
// only once the whole stream has been extracted and its digest verified, so
// a snapshot exists exactly when its final path does. Temp dirs are flocked
// by their owner while in use; Open removes the unlocked ones a crash left.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// tmpPrefix names the temp dirs this package owns in root/tmp.
const tmpPrefix = "snap-"

// Store keeps unpacked layers under root/snapshots/sha256/<hex>/ and its
// temp dirs under root/tmp/. It is safe for concurrent use by goroutines
// and processes.
type Store struct {
	root string
}

// Info describes an unpacked layer.
type Info struct {
	// DiffID is the digest of the uncompressed layer tar.
	DiffID digest.Digest
	// Size is the sum of regular file sizes and symlink target lengths. It is
	// 0 when the snapshot already existed before Unpack started.
	Size int64
	// Existed reports that the snapshot was already there (or was put there
	// by a concurrent Unpack): this Unpack did not create it.
	Existed bool
}

// Open opens (creating if needed) the snapshot store under root and removes
// snapshot temp dirs left behind by crashed processes. Temp dirs of live
// processes are locked and kept.
func Open(root string) (*Store, error) {
	s := &Store{root: root}
	for _, d := range []string{filepath.Join(root, "snapshots", digest.SHA256.String()), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open snapshot store: %w", err)
		}
	}
	s.cleanTemp()
	return s, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.root, "tmp") }

// dir returns the final path of the snapshot diffID.
func (s *Store) dir(diffID digest.Digest) (string, error) {
	if err := diffID.Validate(); err != nil {
		return "", fmt.Errorf("invalid diffID %q: %w", diffID, err)
	}
	return filepath.Join(s.root, "snapshots", diffID.Algorithm().String(), diffID.Encoded()), nil
}

// Path returns the directory of the snapshot diffID (whether or not it
// exists), or "" if diffID is not a valid digest.
func (s *Store) Path(diffID digest.Digest) string {
	p, err := s.dir(diffID)
	if err != nil {
		return ""
	}
	return p
}

// Has reports whether the snapshot diffID exists.
func (s *Store) Has(diffID digest.Digest) bool {
	p, err := s.dir(diffID)
	if err != nil {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir()
}

// Unpack extracts the uncompressed layer tar r as the snapshot diffID. It
// reads r to EOF and checks that its digest is diffID; on any error nothing
// is left behind. If the snapshot exists already (or appears meanwhile
// through a concurrent Unpack) r is still read and verified and Info.Existed
// is set. ctx is checked between entries and reads.
func (s *Store) Unpack(ctx context.Context, diffID digest.Digest, r io.Reader) (Info, error) {
	info := Info{DiffID: diffID}
	final, err := s.dir(diffID)
	if err != nil {
		return info, fmt.Errorf("unpack: %w", err)
	}
	if !diffID.Algorithm().Available() {
		return info, fmt.Errorf("unpack %s: unsupported digest algorithm", diffID)
	}
	h := diffID.Algorithm().Hash()

	if s.Has(diffID) {
		info.Existed = true
		if _, err := io.Copy(io.Discard, &hashReader{ctx: ctx, r: r, h: h}); err != nil {
			return info, fmt.Errorf("unpack %s: %w", diffID, err)
		}
		return info, verify(diffID, h)
	}

	tmp, err := s.newTemp()
	if err != nil {
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	defer tmp.release()
	fsDir := filepath.Join(tmp.path, "fs")
	// The stream is hashed in another goroutine while it is extracted.
	pipe := newHashPipe(ctx, r, h)
	defer pipe.Close()
	st, err := ExtractContext(ctx, fsDir, pipe, ExtractOptions{})
	if err != nil {
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	// The digest covers the padding after the end-of-archive marker too.
	if _, err := io.Copy(io.Discard, pipe); err != nil {
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	pipe.Close()
	if err := verify(diffID, h); err != nil {
		return info, err
	}
	info.Size = st.Size
	if err := os.Chmod(fsDir, 0o755); err != nil {
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	switch err := renameNoReplace(fsDir, final); {
	case err == nil:
	case errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY):
		info.Existed = true // a concurrent Unpack won; same content
	default:
		return info, fmt.Errorf("unpack %s: %w", diffID, err)
	}
	return info, nil
}

// verify compares the digest accumulated in h with diffID.
func verify(diffID digest.Digest, h hash.Hash) error {
	if got := digest.NewDigest(diffID.Algorithm(), h); got != diffID {
		return fmt.Errorf("unpack %s: layer digest mismatch: expected %s, got %s", diffID, diffID, got)
	}
	return nil
}

// renameNoReplace renames a directory into place, failing with EEXIST if
// the destination exists (even as an empty directory).
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		// The filesystem lacks RENAME_NOREPLACE; a plain rename only
		// replaces an empty directory, i.e. an empty layer.
		return os.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// hashReader hashes everything read through it and fails once ctx is done.
type hashReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
}

func (r *hashReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	return n, err
}

// Remove deletes the snapshot diffID; removing a missing snapshot is not an
// error. The snapshot disappears atomically (it is first renamed into a temp
// dir), then its files are deleted, read-only directories included.
func (s *Store) Remove(diffID digest.Digest) error {
	final, err := s.dir(diffID)
	if err != nil {
		return fmt.Errorf("remove snapshot: %w", err)
	}
	if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	tmp, err := s.newTemp()
	if err != nil {
		return fmt.Errorf("remove snapshot %s: %w", diffID, err)
	}
	defer tmp.release()
	if err := os.Rename(final, filepath.Join(tmp.path, "fs")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove snapshot %s: %w", diffID, err)
	}
	if err := removeAll(tmp.path); err != nil {
		return fmt.Errorf("remove snapshot %s: %w", diffID, err)
	}
	return nil
}

// List returns the diffIDs of all snapshots, sorted.
func (s *Store) List() ([]digest.Digest, error) {
	base := filepath.Join(s.root, "snapshots")
	algs, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var out []digest.Digest
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(base, a.Name()))
		if err != nil {
			return nil, fmt.Errorf("list snapshots: %w", err)
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), e.Name())
			if e.IsDir() && d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Usage returns the unpacked size of the snapshot diffID: regular file
// sizes (hard links counted once) plus symlink target lengths.
func (s *Store) Usage(diffID digest.Digest) (int64, error) {
	p, err := s.dir(diffID)
	if err != nil {
		return 0, fmt.Errorf("snapshot usage: %w", err)
	}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var n int64
	err = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		t := d.Type()
		if !t.IsRegular() && t&fs.ModeSymlink == 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && t.IsRegular() && st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("snapshot %s usage: %w", diffID, err)
	}
	return n, nil
}

// tempDir is a directory under root/tmp held with an exclusive flock, so
// that no other process's Open removes it while it is in use.
type tempDir struct {
	path string
	fd   int
}

// newTemp creates and locks a fresh temp dir.
func (s *Store) newTemp() (*tempDir, error) {
	for range 100 {
		p, err := os.MkdirTemp(s.tmpDir(), tmpPrefix)
		if err != nil {
			return nil, fmt.Errorf("create temp dir: %w", err)
		}
		fd, err := openRetry(unix.AT_FDCWD, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err != nil {
			continue // removed by another process's Open before we locked it
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			unix.Close(fd) // being removed by another process's Open
			continue
		}
		// Another Open may have removed it between MkdirTemp and Flock.
		var a, b unix.Stat_t
		if unix.Fstat(fd, &a) == nil && unix.Lstat(p, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
			return &tempDir{path: p, fd: fd}, nil
		}
		unix.Close(fd)
	}
	return nil, errors.New("create temp dir: removed repeatedly by concurrent cleanups")
}

// release removes the temp dir and drops its lock.
func (t *tempDir) release() {
	_ = removeAll(t.path)
	unix.Close(t.fd)
}

// cleanTemp removes the snapshot temp dirs no live process holds locked.
func (s *Store) cleanTemp() {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) < len(tmpPrefix) || e.Name()[:len(tmpPrefix)] != tmpPrefix {
			continue
		}
		p := filepath.Join(s.tmpDir(), e.Name())
		fd, err := openRetry(unix.AT_FDCWD, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if err != nil {
			continue
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			_ = removeAll(p)
		}
		unix.Close(fd)
	}
}

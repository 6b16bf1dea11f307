// Package image is hull's image store: image records and tags on top of
// the content-addressed blob store (package content) and the unpacked layer
// store (package snapshot).
//
// Metadata lives in root/images.json, rewritten whole (temp file, fsync,
// rename) under an exclusive flock on root/lock. It only ever names blobs
// and snapshots that already exist, because writers store those first and
// record the image last. Writers hold a shared flock on root/gc.lock for the
// whole operation; garbage collection takes it exclusively, so it never
// deletes blobs a concurrent pull has written but not recorded yet.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/atomicfile"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hull-project/hull/content"
	"github.com/hull-project/hull/snapshot"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Record is the stored metadata of one image. The image's ID is the digest
// of its config blob, as in Docker.
type Record struct {
	// ID is the config digest.
	ID digest.Digest `json:"id"`
	// Manifest is the digest of the image manifest blob (one platform).
	Manifest digest.Digest `json:"manifest"`
	// Index is the digest of the index or manifest list the image was
	// selected from, if any.
	Index digest.Digest `json:"index,omitempty"`
	// RepoDigests are fully qualified "repo@sha256:…" references under
	// which registries know this image.
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Size is the unpacked size of all layers in bytes.
	Size int64 `json:"size"`
	// Parent is the ID of the image this one was built on (local builds).
	Parent digest.Digest `json:"parent,omitempty"`
	// Intermediate marks build cache images that `images` hides without -a.
	Intermediate bool `json:"intermediate,omitempty"`
	// Added is when the image was first stored.
	Added time.Time `json:"added"`
	// LastTagTime is when a tag last pointed here.
	LastTagTime time.Time `json:"lastTagTime,omitempty"`
}

// indexFile is the on-disk form of images.json.
type indexFile struct {
	Version int                        `json:"version"`
	Images  map[digest.Digest]*Record  `json:"images"`
	Tags    map[string]digest.Digest   `json:"tags"`
	Layers  map[digest.Digest]int64    `json:"layerSizes,omitempty"`
	Extra   map[string]json.RawMessage `json:"extra,omitempty"`
}

const indexVersion = 1

// Store is an image store rooted at a directory.
type Store struct {
	root      string
	content   *content.Store
	snapshots *snapshot.Store
}

// Open opens (creating if needed) the image store under root. It repairs
// what a crash may have left: temp files and half-unpacked layers go.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("open image store: empty root directory")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	cs, err := content.Open(root)
	if err != nil {
		return nil, err
	}
	ss, err := snapshot.Open(root)
	if err != nil {
		return nil, err
	}
	return &Store{root: root, content: cs, snapshots: ss}, nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

// Content returns the blob store.
func (s *Store) Content() *content.Store { return s.content }

// Snapshots returns the unpacked layer store.
func (s *Store) Snapshots() *snapshot.Store { return s.snapshots }

func (s *Store) indexPath() string { return filepath.Join(s.root, "images.json") }

// lockFile takes an flock of the given kind on root/name and returns the
// function that releases it.
func (s *Store) lockFile(name string, how int) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Lease protects blobs and snapshots written by a long operation (pull,
// load, import, build) from garbage collection until it has recorded them.
// Call the returned function when done.
func (s *Store) Lease() (func(), error) {
	return s.lockFile("gc.lock", unix.LOCK_SH)
}

func (s *Store) read() (*indexFile, error) {
	ix := &indexFile{Version: indexVersion}
	b, err := os.ReadFile(s.indexPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read image index: %w", err)
	default:
		if err := json.Unmarshal(b, ix); err != nil {
			return nil, fmt.Errorf("read image index %s: corrupt: %w", s.indexPath(), err)
		}
		if ix.Version > indexVersion {
			return nil, fmt.Errorf("read image index: version %d is newer than this hull supports (%d)", ix.Version, indexVersion)
		}
	}
	if ix.Images == nil {
		ix.Images = map[digest.Digest]*Record{}
	}
	if ix.Tags == nil {
		ix.Tags = map[string]digest.Digest{}
	}
	if ix.Layers == nil {
		ix.Layers = map[digest.Digest]int64{}
	}
	return ix, nil
}

func (s *Store) write(ix *indexFile) error {
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return atomicfile.WriteFile(s.indexPath(), b, 0o600)
}

// snapshotView reads the index under a shared lock.
func (s *Store) snapshotView() (*indexFile, error) {
	unlock, err := s.lockFile("lock", unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.read()
}

// Tx is a metadata transaction opened by Update.
type Tx struct {
	ix *indexFile
}

// Update runs fn with exclusive access to the image metadata and writes
// the result atomically if fn returns nil.
func (s *Store) Update(fn func(tx *Tx) error) error {
	unlock, err := s.lockFile("lock", unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(&Tx{ix: ix}); err != nil {
		return err
	}
	return s.write(ix)
}

// Record returns the record of image id, or nil.
func (tx *Tx) Record(id digest.Digest) *Record { return tx.ix.Images[id] }

// Put adds or replaces an image record.
func (tx *Tx) Put(r *Record) {
	if old := tx.ix.Images[r.ID]; old != nil && r.Added.IsZero() {
		r.Added = old.Added
	}
	if r.Added.IsZero() {
		r.Added = time.Now().UTC()
	}
	tx.ix.Images[r.ID] = r
}

// Tag points the fully qualified tag reference ref at image id.
func (tx *Tx) Tag(ref string, id digest.Digest) error {
	r := tx.ix.Images[id]
	if r == nil {
		return fmt.Errorf("tag %s: no such image: %s", ref, id)
	}
	tx.ix.Tags[ref] = id
	r.LastTagTime = time.Now().UTC()
	return nil
}

// Untag removes the tag ref and reports whether it existed.
func (tx *Tx) Untag(ref string) bool {
	_, ok := tx.ix.Tags[ref]
	delete(tx.ix.Tags, ref)
	return ok
}

// TagTarget returns the image a fully qualified tag points at.
func (tx *Tx) TagTarget(ref string) (digest.Digest, bool) {
	id, ok := tx.ix.Tags[ref]
	return id, ok
}

// Delete removes image id's record and every tag pointing at it.
func (tx *Tx) Delete(id digest.Digest) {
	delete(tx.ix.Images, id)
	for t, v := range tx.ix.Tags {
		if v == id {
			delete(tx.ix.Tags, t)
		}
	}
}

// TagsOf returns the sorted tags pointing at image id.
func (tx *Tx) TagsOf(id digest.Digest) []string { return tagsOf(tx.ix, id) }

// SetLayerSize records the unpacked size of the layer diffID.
func (tx *Tx) SetLayerSize(diffID digest.Digest, size int64) { tx.ix.Layers[diffID] = size }

// LayerSize returns the recorded unpacked size of layer diffID.
func (tx *Tx) LayerSize(diffID digest.Digest) (int64, bool) {
	n, ok := tx.ix.Layers[diffID]
	return n, ok
}

// Images returns every record, for callers that need to scan.
func (tx *Tx) Images() []*Record {
	out := make([]*Record, 0, len(tx.ix.Images))
	for _, r := range tx.ix.Images {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func tagsOf(ix *indexFile, id digest.Digest) []string {
	var out []string
	for t, v := range ix.Tags {
		if v == id {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

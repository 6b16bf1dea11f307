package image

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// ErrNotFound is wrapped by errors about images that are not stored.
var ErrNotFound = errors.New("no such image")

// NotFoundError reports that a name resolves to no stored image.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string { return "No such image: " + e.Name }

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// AmbiguousError reports a short ID that matches several images.
type AmbiguousError struct{ Prefix string }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("image ID prefix %q is ambiguous: it matches several images", e.Prefix)
}

// Image is a stored image: its record, its tags, and access to its blobs.
type Image struct {
	Record
	// Tags are the fully qualified tags pointing at the image, sorted.
	Tags  []string
	store *Store
}

// ShortID returns the 12-hex-digit short image ID.
func (i *Image) ShortID() string { return i.ID.Encoded()[:12] }

// ManifestBytes returns the raw manifest.
func (i *Image) ManifestBytes() ([]byte, error) { return i.store.content.Read(i.Manifest) }

// ParsedManifest returns the decoded manifest.
func (i *Image) ParsedManifest() (*v1.Manifest, error) {
	b, err := i.ManifestBytes()
	if err != nil {
		return nil, err
	}
	return ParseManifest(b, "")
}

// ConfigBytes returns the raw config blob.
func (i *Image) ConfigBytes() ([]byte, error) { return i.store.content.Read(i.ID) }

// Config returns the decoded config.
func (i *Image) Config() (*v1.ConfigFile, error) {
	b, err := i.ConfigBytes()
	if err != nil {
		return nil, err
	}
	return ParseConfig(b)
}

// Dangling reports whether the image has no tags.
func (i *Image) Dangling() bool { return len(i.Tags) == 0 }

func (s *Store) view(ix *indexFile, r *Record) *Image {
	cp := *r
	cp.RepoDigests = append([]string(nil), r.RepoDigests...)
	return &Image{Record: cp, Tags: tagsOf(ix, r.ID), store: s}
}

// List returns every stored image, newest first.
func (s *Store) List() ([]*Image, error) {
	ix, err := s.snapshotView()
	if err != nil {
		return nil, err
	}
	out := make([]*Image, 0, len(ix.Images))
	for _, r := range ix.Images {
		out = append(out, s.view(ix, r))
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Added.Equal(out[b].Added) {
			return out[a].Added.After(out[b].Added)
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

// Get returns the image with the exact ID.
func (s *Store) Get(id digest.Digest) (*Image, error) {
	ix, err := s.snapshotView()
	if err != nil {
		return nil, err
	}
	r := ix.Images[id]
	if r == nil {
		return nil, &NotFoundError{Name: id.String()}
	}
	return s.view(ix, r), nil
}

// Resolve finds the image a user's name refers to, as the docker CLI does:
// a full or short image ID, a tag ("busybox", "busybox:1.36"), or a digest
// reference ("busybox@sha256:…").
func (s *Store) Resolve(name string) (*Image, error) {
	ix, err := s.snapshotView()
	if err != nil {
		return nil, err
	}
	return s.resolveIn(ix, name)
}

func (s *Store) resolveIn(ix *indexFile, name string) (*Image, error) {
	if name == "" {
		return nil, errors.New("image name must not be empty")
	}
	if id, ok := fullID(name); ok {
		if r := ix.Images[id]; r != nil {
			return s.view(ix, r), nil
		}
		return nil, &NotFoundError{Name: name}
	}
	if ref, err := reference.Parse(name); err == nil {
		if d := ref.Digest(); d != "" {
			repo := ref.Repository()
			for _, r := range ix.Images {
				for _, rd := range r.RepoDigests {
					if rd == repo+"@"+d.String() {
						return s.view(ix, r), nil
					}
				}
			}
			for _, r := range ix.Images {
				if r.Manifest == d || r.Index == d {
					for _, rd := range r.RepoDigests {
						if strings.HasPrefix(rd, repo+"@") {
							return s.view(ix, r), nil
						}
					}
				}
			}
		} else if id, ok := ix.Tags[ref.String()]; ok {
			if r := ix.Images[id]; r != nil {
				return s.view(ix, r), nil
			}
		}
	}
	prefix := strings.TrimPrefix(name, "sha256:")
	if isHexString(prefix) && len(prefix) > 0 {
		var found *Record
		for id, r := range ix.Images {
			if strings.HasPrefix(id.Encoded(), prefix) {
				if found != nil {
					return nil, &AmbiguousError{Prefix: name}
				}
				found = r
			}
		}
		if found != nil {
			return s.view(ix, found), nil
		}
	}
	return nil, &NotFoundError{Name: name}
}

func fullID(s string) (digest.Digest, bool) {
	hex := strings.TrimPrefix(s, "sha256:")
	if len(hex) == 64 && isHexString(hex) {
		return digest.NewDigestFromEncoded(digest.SHA256, hex), true
	}
	return "", false
}

func isHexString(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CommitRequest describes an image whose blobs and snapshots are stored and
// that should now be recorded.
type CommitRequest struct {
	// Manifest is the digest of the stored image manifest.
	Manifest digest.Digest
	// Index is the stored index the manifest was selected from, if any.
	Index digest.Digest
	// Tags are tag references to point at the image.
	Tags []reference.Reference
	// RepoDigest is a "repo@digest" reference to record, if any.
	RepoDigest string
	// LayerSizes are unpacked sizes of layers by diffID, where known.
	LayerSizes map[digest.Digest]int64
	// Parent and Intermediate are set by builds.
	Parent       digest.Digest
	Intermediate bool
}

// Commit validates that the manifest, config, layer blobs and snapshots of
// an image are all stored, then records the image and points the tags at
// it. It returns the image and the IDs of images that lost their last tag.
func (s *Store) Commit(req CommitRequest) (*Image, error) {
	mb, err := s.content.Read(req.Manifest)
	if err != nil {
		return nil, fmt.Errorf("commit image: %w", err)
	}
	m, err := ParseManifest(mb, "")
	if err != nil {
		return nil, fmt.Errorf("commit image: %w", err)
	}
	configID := digest.Digest(m.Config.Digest.String())
	cb, err := s.content.Read(configID)
	if err != nil {
		return nil, fmt.Errorf("commit image: config: %w", err)
	}
	cfg, err := ParseConfig(cb)
	if err != nil {
		return nil, fmt.Errorf("commit image: %w", err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("commit image: manifest has %d layers but config lists %d diff_ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		ld := digest.Digest(l.Digest.String())
		if !s.content.Has(ld) {
			return nil, fmt.Errorf("commit image: layer %d blob %s is not stored", i, ld)
		}
		diffID := digest.Digest(cfg.RootFS.DiffIDs[i].String())
		if !s.snapshots.Has(diffID) {
			return nil, fmt.Errorf("commit image: layer %d (%s) is not unpacked", i, diffID)
		}
	}
	var img *Image
	err = s.Update(func(tx *Tx) error {
		var size int64
		for _, d := range cfg.RootFS.DiffIDs {
			diffID := digest.Digest(d.String())
			n, ok := req.LayerSizes[diffID]
			if !ok {
				n, ok = tx.LayerSize(diffID)
			}
			if !ok {
				n, err = s.snapshots.Usage(diffID)
				if err != nil {
					return fmt.Errorf("commit image: %w", err)
				}
			}
			tx.SetLayerSize(diffID, n)
			size += n
		}
		r := tx.Record(configID)
		if r == nil {
			r = &Record{ID: configID}
		}
		r.Manifest = req.Manifest
		r.Index = req.Index
		r.Size = size
		r.Parent = req.Parent
		r.Intermediate = req.Intermediate && (r.Intermediate || tx.Record(configID) == nil)
		if req.RepoDigest != "" && !contains(r.RepoDigests, req.RepoDigest) {
			// A repository has one digest per image in Docker's view: the
			// newest replaces older ones of the same repository.
			repo := req.RepoDigest[:strings.LastIndex(req.RepoDigest, "@")]
			kept := r.RepoDigests[:0]
			for _, rd := range r.RepoDigests {
				if !strings.HasPrefix(rd, repo+"@") {
					kept = append(kept, rd)
				}
			}
			r.RepoDigests = append(kept, req.RepoDigest)
			sort.Strings(r.RepoDigests)
		}
		tx.Put(r)
		for _, t := range req.Tags {
			if err := tx.Tag(t.String(), configID); err != nil {
				return err
			}
		}
		img = s.view(tx.ix, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// Tag points the tag ref at the image source resolves to.
func (s *Store) Tag(source string, ref reference.Reference) error {
	if ref.Tag() == "" {
		return fmt.Errorf("tag %s: a tag reference needs a tag, not a digest", ref.Familiar())
	}
	return s.Update(func(tx *Tx) error {
		img, err := s.resolveIn(tx.ix, source)
		if err != nil {
			return err
		}
		return tx.Tag(ref.String(), img.ID)
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Created returns the image's creation time from its config.
func (i *Image) Created() time.Time {
	c, err := i.Config()
	if err != nil {
		return time.Time{}
	}
	return c.Created.Time
}

// LayerSize returns the recorded unpacked size of the layer diffID.
func (s *Store) LayerSize(diffID digest.Digest) (int64, bool) {
	ix, err := s.snapshotView()
	if err != nil {
		return 0, false
	}
	n, ok := ix.Layers[diffID]
	return n, ok
}

package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// RemoveResult is one line of `rmi` output: an untagged reference or a
// deleted image.
type RemoveResult struct {
	Untagged string
	Deleted  digest.Digest
}

// ConflictError reports an rmi that needs -f.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return "conflict: " + e.Msg }

// InUseFunc reports the containers that use an image; set by the container
// layer so rmi refuses to delete images in use.
type InUseFunc func(id digest.Digest) []string

// Remove untags or deletes the image name refers to with Docker's rules:
// removing a tag only untags unless it was the image's last reference;
// removing by ID deletes the image, which needs force if it is tagged in
// several repositories. Blobs are collected afterwards by GC.
func (s *Store) Remove(name string, force bool, inUse InUseFunc) ([]RemoveResult, error) {
	var out []RemoveResult
	err := s.Update(func(tx *Tx) error {
		img, err := s.resolveIn(tx.ix, name)
		if err != nil {
			return err
		}
		byRef := false
		var ref reference.Reference
		if _, isID := fullID(name); !isID {
			if r, err := reference.Parse(name); err == nil {
				if r.Digest() != "" {
					byRef = contains(img.RepoDigests, r.String())
				} else {
					_, byRef = tx.ix.Tags[r.String()]
				}
				ref = r
			}
		}
		if byRef {
			users := usersOf(inUse, img.ID)
			if len(users) > 0 && !force && len(img.Tags)+len(img.RepoDigests) <= 1 {
				return &ConflictError{Msg: fmt.Sprintf("unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref.Familiar(), users[0], img.ShortID())}
			}
			if ref.Digest() != "" {
				rec := tx.Record(img.ID)
				rec.RepoDigests = remove(rec.RepoDigests, ref.String())
			} else {
				tx.Untag(ref.String())
			}
			out = append(out, RemoveResult{Untagged: ref.Familiar()})
			rec := tx.Record(img.ID)
			// When the last tag of a repository goes, that repository's
			// digests go too; with nothing else left, the image goes.
			repo := ref.Repository()
			repoTagged := false
			for _, t := range tx.TagsOf(img.ID) {
				if strings.HasPrefix(t, repo+":") {
					repoTagged = true
				}
			}
			if !repoTagged && ref.Digest() == "" {
				for _, rd := range append([]string(nil), rec.RepoDigests...) {
					if strings.HasPrefix(rd, repo+"@") {
						rec.RepoDigests = remove(rec.RepoDigests, rd)
						out = append(out, RemoveResult{Untagged: reference.FamiliarString(rd)})
					}
				}
			}
			if len(tx.TagsOf(img.ID)) > 0 || len(rec.RepoDigests) > 0 {
				return nil
			}
			if len(users) > 0 {
				// Docker keeps the image, untagged, when a container uses it.
				return nil
			}
			return s.deleteRecord(tx, img.ID, force, &out)
		}
		// By ID: all tags must be of one repository unless forced.
		repos := map[string]bool{}
		for _, t := range img.Tags {
			repos[reference.FamiliarName(t)] = true
		}
		if len(repos) > 1 && !force {
			return &ConflictError{Msg: fmt.Sprintf("unable to delete %s (must be forced) - image is referenced in multiple repositories", img.ShortID())}
		}
		if users := usersOf(inUse, img.ID); len(users) > 0 && !force {
			return &ConflictError{Msg: fmt.Sprintf("unable to delete %s (must be forced) - image is being used by container %s", img.ShortID(), users[0])}
		}
		for _, t := range img.Tags {
			tx.Untag(t)
			out = append(out, RemoveResult{Untagged: reference.FamiliarString(t)})
		}
		for _, rd := range img.RepoDigests {
			out = append(out, RemoveResult{Untagged: reference.FamiliarString(rd)})
		}
		return s.deleteRecord(tx, img.ID, force, &out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) deleteRecord(tx *Tx, id digest.Digest, force bool, out *[]RemoveResult) error {
	for _, r := range tx.ix.Images {
		if r.Parent == id && r.ID != id && !r.Intermediate && !force {
			return &ConflictError{Msg: fmt.Sprintf("unable to delete %s (cannot be forced) - image has dependent child images", id.Encoded()[:12])}
		}
	}
	tx.Delete(id)
	*out = append(*out, RemoveResult{Deleted: id})
	return nil
}

func usersOf(inUse InUseFunc, id digest.Digest) []string {
	if inUse == nil {
		return nil
	}
	return inUse(id)
}

func remove(ss []string, s string) []string {
	out := ss[:0]
	for _, x := range ss {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// GCReport says what a garbage collection removed.
type GCReport struct {
	// Skipped is true when another process held a lease and GC did not run.
	Skipped      bool
	Blobs        []digest.Digest
	Snapshots    []digest.Digest
	SpaceFreed   int64
	SnapshotRefs int
}

// SnapshotRootsFunc returns snapshots (diffIDs) that something other than
// an image still needs, such as a container's image layers.
type SnapshotRootsFunc func() ([]digest.Digest, error)

// (GC keeps the snapshots of the digests such a function returns, and
// the blobs of the same digests: uncompressed layers, whose blob digest
// is their diffID, as the build cache keeps them.)

// GC deletes blobs and snapshots that no image record references. It runs
// only if no writer holds a lease; otherwise it reports Skipped and the
// next GC collects.
func (s *Store) GC(extra SnapshotRootsFunc) (GCReport, error) {
	var rep GCReport
	unlock, err := s.lockFile("gc.lock", unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		rep.Skipped = true
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	defer unlock()
	ix, err := s.snapshotView()
	if err != nil {
		return rep, err
	}
	liveBlobs := map[digest.Digest]bool{}
	liveSnaps := map[digest.Digest]bool{}
	for _, r := range ix.Images {
		img := s.view(ix, r)
		liveBlobs[r.ID] = true
		liveBlobs[r.Manifest] = true
		if r.Index != "" {
			liveBlobs[r.Index] = true
		}
		m, err := img.ParsedManifest()
		if err != nil {
			return rep, fmt.Errorf("gc: image %s: %w (nothing was deleted)", r.ID, err)
		}
		for _, l := range m.Layers {
			liveBlobs[digest.Digest(l.Digest.String())] = true
		}
		cfg, err := img.Config()
		if err != nil {
			return rep, fmt.Errorf("gc: image %s: %w (nothing was deleted)", r.ID, err)
		}
		for _, d := range cfg.RootFS.DiffIDs {
			liveSnaps[digest.Digest(d.String())] = true
		}
	}
	if extra != nil {
		roots, err := extra()
		if err != nil {
			return rep, fmt.Errorf("gc: %w (nothing was deleted)", err)
		}
		for _, d := range roots {
			// An extra root keeps its snapshot and, where the layer
			// is stored uncompressed (a build cache's), its blob.
			liveSnaps[d] = true
			liveBlobs[d] = true
		}
	}
	err = s.content.Walk(func(d digest.Digest, size int64) error {
		if liveBlobs[d] {
			return nil
		}
		if err := s.content.Delete(d); err != nil {
			return err
		}
		rep.Blobs = append(rep.Blobs, d)
		rep.SpaceFreed += size
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	snaps, err := s.snapshots.List()
	if err != nil {
		return rep, fmt.Errorf("gc: %w", err)
	}
	for _, d := range snaps {
		if liveSnaps[d] {
			continue
		}
		n, ok := ix.Layers[d]
		if !ok {
			n, _ = s.snapshots.Usage(d)
		}
		if err := s.snapshots.Remove(d); err != nil {
			return rep, fmt.Errorf("gc: %w", err)
		}
		rep.Snapshots = append(rep.Snapshots, d)
		rep.SpaceFreed += n
	}
	if len(rep.Snapshots) > 0 {
		err = s.Update(func(tx *Tx) error {
			for _, d := range rep.Snapshots {
				delete(tx.ix.Layers, d)
			}
			return nil
		})
	}
	return rep, err
}

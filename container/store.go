package container

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/runtime"
)

// Files in a container's directory.
const (
	recordFile  = "container.json"
	lockFile    = ".lock"
	monitorLock = "monitor.lock"
	rootfsDir   = "rootfs"
	upperDir    = "diff"
	workDir     = "work"
)

// NotFoundError is returned when no container matches a reference.
type NotFoundError struct{ Ref string }

func (e *NotFoundError) Error() string { return "No such container: " + e.Ref }

// errCorrupt marks a record that does not decode.
var errCorrupt = errors.New("corrupt container record")

// ErrNotFound matches every NotFoundError with errors.Is.
var ErrNotFound = errors.New("no such container")

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// NameConflictError is returned when a name is taken.
type NameConflictError struct{ Name, ID string }

func (e *NameConflictError) Error() string {
	return fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", "/"+e.Name, e.ID)
}

// AmbiguousError is returned when a reference is the prefix of several
// container IDs.
type AmbiguousError struct{ Ref string }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("multiple containers found with provided prefix: %s", e.Ref)
}

// Store keeps containers under root/containers; runtime state (the OCI
// runtime's and the monitor's) lives under a run directory derived from
// runroot and root, so stores with different roots never meet.
type Store struct {
	root   string
	runDir string
	rt     *runtime.Runtime
	// OnStopped, if set, is called (with the container's lock held) for
	// a container found to have stopped while no monitor watched it, to
	// release what its run held outside the store (its network).
	OnStopped func(id string)
}

// Open opens (creating if needed) the container store of the hull root
// directory root, with runtime state under runroot.
func Open(root, runroot string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	runroot, err = filepath.Abs(runroot)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(root))
	s := &Store{
		root:   filepath.Join(root, "containers"),
		runDir: filepath.Join(runroot, "r-"+hex.EncodeToString(sum[:6])),
	}
	s.rt = &runtime.Runtime{Root: filepath.Join(s.runDir, "runtime")}
	for _, d := range []string{s.root, s.runDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open container store: %w", err)
		}
	}
	return s, nil
}

// RunDir is the store's runtime state directory (the monitor's socket
// and lock, the OCI runtime's state).
func (s *Store) RunDir() string { return s.runDir }

// Runtime is the OCI runtime that runs the store's containers.
func (s *Store) Runtime() *runtime.Runtime { return s.rt }

// Dir is the directory of the container id: its record, writable layer,
// root file system mount point and log. It is also its OCI bundle.
func (s *Store) Dir(id string) string { return filepath.Join(s.root, id) }

// Rootfs is where the container's root file system is mounted.
func (s *Store) Rootfs(id string) string { return filepath.Join(s.Dir(id), rootfsDir) }

// LogPath is the container's json-file log.
func (s *Store) LogPath(id string) string { return filepath.Join(s.Dir(id), id+"-json.log") }

// MonitorLockPath is the file the monitor holds an exclusive lock on
// while it supervises the container.
func (s *Store) MonitorLockPath(id string) string { return filepath.Join(s.Dir(id), monitorLock) }

// lockStore takes the store-wide lock that create, rename and remove
// hold while they check and change names.
func (s *Store) lockStore() (*flock.Lock, error) {
	return flock.Exclusive(filepath.Join(s.root, lockFile))
}

// Lock takes the container's own lock, held while its record or mounts
// change.
func (s *Store) Lock(id string) (*flock.Lock, error) {
	if _, err := os.Stat(s.Dir(id)); err != nil {
		return nil, &NotFoundError{Ref: id}
	}
	return flock.Exclusive(filepath.Join(s.Dir(id), lockFile))
}

// Create stores a new container record. An empty ID or Name is
// generated; a taken name is a NameConflictError. The record appears
// whole or not at all.
func (s *Store) Create(rec *Record) error {
	if rec.ID == "" {
		rec.ID = NewID()
	}
	if rec.Name != "" {
		rec.Name = strings.TrimPrefix(rec.Name, "/")
		if err := ValidateName(rec.Name); err != nil {
			return err
		}
	}
	if rec.Created.IsZero() {
		rec.Created = time.Now().UTC()
	}
	if rec.State.Status == "" {
		rec.State.Status = Created
	}
	l, err := s.lockStore()
	if err != nil {
		return err
	}
	defer l.Unlock()
	s.cleanTemp()
	names, err := s.names()
	if err != nil {
		return err
	}
	if rec.Name == "" {
		for i := 0; ; i++ {
			rec.Name = generateName(i / 3)
			if _, taken := names[rec.Name]; !taken {
				break
			}
		}
	} else if id, taken := names[rec.Name]; taken {
		return &NameConflictError{Name: rec.Name, ID: id}
	}
	tmp := filepath.Join(s.root, ".tmp-"+rec.ID)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	for _, d := range []string{rootfsDir, upperDir, workDir} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("create container: %w", err)
		}
	}
	if err := writeRecord(filepath.Join(tmp, recordFile), rec, !autoRemove(rec)); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.Dir(rec.ID)); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	ok = true
	return nil
}

// cleanTemp removes directories left by creates that were killed; the
// caller holds the store lock, so none is in progress.
func (s *Store) cleanTemp() {
	ents, _ := os.ReadDir(s.root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(s.root, e.Name()))
		}
	}
}

// names maps every container name to its ID.
func (s *Store) names() (map[string]string, error) {
	recs, err := s.readAll()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(recs))
	for _, r := range recs {
		m[r.Name] = r.ID
	}
	return m, nil
}

// ids lists the IDs of the stored containers.
func (s *Store) ids() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// readAll reads every record as stored, without reconciling.
func (s *Store) readAll() ([]*Record, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	recs := make([]*Record, 0, len(ids))
	for _, id := range ids {
		r, err := s.read(id)
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if errors.Is(err, errCorrupt) {
			continue // torn by a power loss before its first sync: skipped
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func (s *Store) read(id string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir(id), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{Ref: id}
	}
	if err != nil {
		return nil, fmt.Errorf("read container %s: %w", ShortID(id), err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read container %s: %w: %w", ShortID(id), errCorrupt, err)
	}
	return &r, nil
}

// writeRecord replaces a record; durable fsyncs it (on create: state
// changes after that are rewritten often and a reboot makes them stale).
func writeRecord(path string, r *Record, durable bool) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode container %s: %w", ShortID(r.ID), err)
	}
	if durable {
		return atomicfile.WriteFile(path, b, 0o600)
	}
	return atomicfile.Replace(path, b, 0o600)
}

// List returns every container, newest first, with the truth about
// containers whose monitor is gone (see Get).
func (s *Store) List() ([]*Record, error) {
	recs, err := s.readAll()
	if err != nil {
		return nil, err
	}
	for i, r := range recs {
		if s.needsReconcile(r) {
			if fixed, err := s.reconcile(r.ID); err == nil {
				recs[i] = fixed
			}
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	return recs, nil
}

// Resolve finds the ID of the container ref names: a full ID, a name
// (with or without the leading "/") or a unique ID prefix, in Docker's
// order of precedence.
func (s *Store) Resolve(ref string) (string, error) {
	if ref == "" {
		return "", &NotFoundError{Ref: ref}
	}
	if len(ref) == 64 {
		if _, err := os.Stat(filepath.Join(s.Dir(ref), recordFile)); err == nil {
			return ref, nil
		}
	}
	names, err := s.names()
	if err != nil {
		return "", err
	}
	if id, ok := names[strings.TrimPrefix(ref, "/")]; ok {
		return id, nil
	}
	ids, err := s.ids()
	if err != nil {
		return "", err
	}
	match := ""
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			if match != "" {
				return "", &AmbiguousError{Ref: ref}
			}
			match = id
		}
	}
	if match == "" {
		return "", &NotFoundError{Ref: ref}
	}
	return match, nil
}

// Get returns the container ref names. If the record says it runs but no
// monitor supervises it (the monitor was killed, or the host rebooted),
// the truth is found out from the OCI runtime and recorded.
func (s *Store) Get(ref string) (*Record, error) {
	id, err := s.Resolve(ref)
	if err != nil {
		return nil, err
	}
	r, err := s.read(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, &NotFoundError{Ref: ref}
		}
		return nil, err
	}
	if s.needsReconcile(r) {
		return s.reconcile(id)
	}
	return r, nil
}

// Update changes the record of id under its lock with fn and stores the
// result.
func (s *Store) Update(id string, fn func(*Record) error) (*Record, error) {
	l, err := s.Lock(id)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	return s.updateLocked(id, fn)
}

// updateLocked is Update for a caller holding the container's lock.
func (s *Store) updateLocked(id string, fn func(*Record) error) (*Record, error) {
	r, err := s.read(id)
	if err != nil {
		return nil, err
	}
	if err := fn(r); err != nil {
		return nil, err
	}
	if err := writeRecord(filepath.Join(s.Dir(id), recordFile), r, false); err != nil {
		return nil, err
	}
	return r, nil
}

// UpdateLocked is Update for a caller that already holds the lock from
// Lock.
func (s *Store) UpdateLocked(id string, fn func(*Record) error) (*Record, error) {
	return s.updateLocked(id, fn)
}

// Rename gives the container ref the name newName.
func (s *Store) Rename(ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	if err := ValidateName(newName); err != nil {
		return err
	}
	l, err := s.lockStore()
	if err != nil {
		return err
	}
	defer l.Unlock()
	id, err := s.Resolve(ref)
	if err != nil {
		return err
	}
	names, err := s.names()
	if err != nil {
		return err
	}
	if other, taken := names[newName]; taken {
		if other == id {
			//lint:ignore ST1005 Docker's message
			return fmt.Errorf("Renaming a container with the same name as its current name")
		}
		return &NameConflictError{Name: newName, ID: other}
	}
	_, err = s.Update(id, func(r *Record) error {
		r.Name = newName
		return nil
	})
	return err
}

// Delete removes the container id's directory: record, writable layer
// and log. The caller has stopped it; Delete unmounts its root file
// system and removes its runtime state if any is left.
func (s *Store) Delete(id string) error {
	l, err := s.lockStore()
	if err != nil {
		return err
	}
	defer l.Unlock()
	dir := s.Dir(id)
	if err := UnmountRootfs(s.Rootfs(id)); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	if c, err := s.rt.Load(id); err == nil {
		_ = c.Delete(true, nil)
	}
	// Rename first so a kill -9 during the slow RemoveAll leaves a temp
	// directory (cleaned by the next create), not half a container.
	tmp := filepath.Join(s.root, ".tmp-rm-"+id)
	if err := os.Rename(dir, tmp); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &NotFoundError{Ref: id}
		}
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove container %s: %w", ShortID(id), err)
	}
	return nil
}

// Read returns the record of the container id as stored, without finding
// out the truth about a lost monitor (for callers holding its lock).
func (s *Store) Read(id string) (*Record, error) { return s.read(id) }

// autoRemove reports an --rm container: it is not worth an fsync, a
// reboot ends it anyway.
func autoRemove(r *Record) bool { return r.HostConfig != nil && r.HostConfig.AutoRemove }

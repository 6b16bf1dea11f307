// Package volume is hull's store of named volumes, kept as Docker's local
// volume driver keeps them: the data of volume NAME lives in
// root/volumes/NAME/_data, which is what containers mount.
//
// Each volume directory also holds meta.json (driver options, labels,
// creation time, whether the volume was filled from an image), written
// whole through a synced temp file and a rename. A volume is created in a
// temp dir root/volumes/.tmp-* that is renamed into place complete, and
// removed by renaming it to such a temp dir first, so after a kill -9 a
// volume either exists completely or not at all; Open deletes the temp
// dirs a crash left behind.
//
// Every mutation holds an exclusive flock on root/volumes/.lock, so any
// number of hull processes may share the store. Reads (Get, List) take no
// lock: they only ever see complete volumes.
//
// Volumes created with driver options ("type", "device", "o", as
// `docker volume create -o`) are filesystems mounted on _data while in use:
// Mount mounts on first use and counts users, Unmount unmounts after the
// last. The count is kept in root/volumes/NAME/mounts and is only trusted
// while _data really is a mount point, so neither a crash nor a reboot
// leaves a volume that cannot be mounted again or removed.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/dockername"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"golang.org/x/sys/unix"
)

const (
	// DefaultDriver is the only volume driver hull has: Docker's "local".
	DefaultDriver = "local"
	// Scope is the scope of every local volume.
	Scope = "local"
	// AnonymousLabel marks anonymous volumes, as Docker does (with an
	// empty value). `volume prune` without --all removes only those.
	AnonymousLabel = "com.docker.volume.anonymous"

	// dataDir is the directory inside a volume that holds its data.
	dataDir = "_data"
	// metaFile holds a volume's metadata.
	metaFile = "meta.json"
	// mountsFile holds the number of users of a mounted volume.
	mountsFile = "mounts"
	// tmpPrefix names temp dirs in root/volumes (never a volume name,
	// which starts with a letter or digit).
	tmpPrefix = ".tmp-"
	// lockName is the lock file in root/volumes.
	lockName = ".lock"
)

// Errors, matched with errors.Is. Their messages are Docker's.
var (
	ErrNotFound = errors.New("no such volume")
	ErrInUse    = errors.New("volume is in use")
	ErrConflict = errors.New("volume name must be unique")
	// ErrInvalid is wrapped by errors about invalid names, drivers and
	// options.
	ErrInvalid = errors.New("invalid parameter")
)

// OpError is an error of an operation on a volume, formatted as Docker's
// volume errors are: "remove NAME: volume is in use - [ID1, ID2]".
type OpError struct {
	Op   string
	Name string
	Err  error
	// Refs are the containers using the volume, for ErrInUse.
	Refs []string
}

func (e *OpError) Error() string {
	s := e.Op
	if e.Name != "" {
		s += " " + e.Name
	}
	s += ": " + e.Err.Error()
	if len(e.Refs) > 0 {
		s += " - [" + strings.Join(e.Refs, ", ") + "]"
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// invalidError is a validation error: its message is its own, and it
// matches ErrInvalid.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// RestrictedNameChars are the characters a local volume name may have.
const RestrictedNameChars = `[a-zA-Z0-9][a-zA-Z0-9_.-]`

// ValidateName checks a volume name with Docker's rules and messages.
func ValidateName(name string) error {
	if len(name) == 1 {
		return invalidf("volume name is too short, names should be at least two alphanumeric characters")
	}
	if !dockername.Valid(name) {
		return invalidf("%q includes invalid characters for a local volume name, only %q are allowed. If you intended to pass a host directory, use absolute path", name, RestrictedNameChars)
	}
	if len(name) > 255 {
		return invalidf("volume name is too long, names may have at most 255 characters")
	}
	return nil
}

// Options the local driver accepts, and those each needs (Docker's
// validOpts and mandatoryOpts).
var (
	validOptions     = []string{"type", "o", "device", "size"}
	mandatoryOptions = map[string][]string{
		"device": {"type"},
		"type":   {"device"},
		"o":      {"device", "type"},
	}
)

// ValidateOptions checks local driver options as Docker's local driver
// does: only "type", "device", "o" (and "size", which needs filesystem
// quotas hull does not set up, so only size 0 is accepted), and "type",
// "device" and "o" only together as each requires.
func ValidateOptions(opts map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		if !slices.Contains(validOptions, k) {
			return invalidf("invalid option: %q", k)
		}
	}
	if v, ok := opts["size"]; ok {
		size, err := units.RAMInBytes(v)
		if err != nil {
			return invalidf("%v", err)
		}
		if size > 0 {
			return invalidf("quota size requested but no quota support")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(mandatoryOptions)) {
		if _, ok := opts[k]; !ok {
			continue
		}
		for _, req := range mandatoryOptions[k] {
			if _, ok := opts[req]; !ok {
				return invalidf("missing required option: %q", req)
			}
		}
	}
	return nil
}

// checkDriver accepts the local driver only.
func checkDriver(driver string) error {
	if driver == "" || driver == DefaultDriver {
		return nil
	}
	return invalidf("error looking up volume plugin %s: plugin %q not found", driver, driver)
}

// CreateOptions are the parameters of Create.
type CreateOptions struct {
	// Driver is "" or "local".
	Driver string
	// Labels are user metadata.
	Labels map[string]string
	// Options are local driver options: "type", "device" and "o" make the
	// volume a filesystem mounted on its data directory while in use, as
	// `mount -t TYPE -o O DEVICE`.
	Options map[string]string
	// Anonymous marks the volume anonymous (AnonymousLabel); a volume
	// created without a name always is.
	Anonymous bool
}

// Volume is a stored volume.
type Volume struct {
	Name   string
	Driver string
	// Mountpoint is the data directory, root/volumes/NAME/_data.
	Mountpoint string
	CreatedAt  time.Time
	// Labels include AnonymousLabel for anonymous volumes. Nil if none.
	Labels map[string]string
	// Options are the driver options. Nil if none.
	Options map[string]string
	// Anonymous is true for volumes with AnonymousLabel.
	Anonymous bool
}

// needsMount reports whether the volume is a filesystem of its own.
func (v *Volume) needsMount() bool { return v.Options["type"] != "" || v.Options["device"] != "" }

// Size returns the space the volume's data takes: the sizes of its
// non-directory entries, hard links counted once (as `docker system df`).
func (v *Volume) Size() (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var n int64
	err := filepath.WalkDir(v.Mountpoint, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if fi.Size() == 0 {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
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
		return 0, fmt.Errorf("size of volume %s: %w", v.Name, err)
	}
	return n, nil
}

// meta is the on-disk form of meta.json.
type meta struct {
	Version   int               `json:"version"`
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	// Filled is set once the volume was filled from an image (or found
	// not to need it), so it is never filled again.
	Filled bool `json:"filled,omitempty"`
	// FillStarted is set while a fill runs: a fill that finds it set was
	// interrupted by a crash and starts over.
	FillStarted bool `json:"fillStarted,omitempty"`
}

const metaVersion = 1

// Store is a volume store. It is safe for concurrent use by goroutines and
// processes.
type Store struct {
	dir string // root/volumes, absolute, symlinks resolved
}

// Open opens (creating if needed) the volume store under root and, unless
// another process is busy with it, removes what crashed processes left.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("open volume store: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	dir := filepath.Join(abs, "volumes")
	if err := os.Mkdir(dir, 0o701); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	// Mount points are compared with /proc/self/mountinfo, which has no
	// symlinks.
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	s := &Store{dir: dir}
	if unlock, err := s.lock(true); err == nil {
		s.cleanup()
		unlock()
	}
	return s, nil
}

// Dir returns root/volumes.
func (s *Store) Dir() string { return s.dir }

// lock takes the store's exclusive flock (without waiting if try) and
// returns the function that releases it.
func (s *Store) lock(try bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock volume store: %w", err)
	}
	how := unix.LOCK_EX
	if try {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock volume store: %w", err)
	}
	return func() { f.Close() }, nil
}

// cleanup removes temp dirs and stale temp files. The caller holds the
// lock, so no other process is creating or removing anything.
func (s *Store) cleanup() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			_ = removeTree(filepath.Join(s.dir, name))
		case e.IsDir() && dockername.Valid(name):
			sub, err := os.ReadDir(filepath.Join(s.dir, name))
			if err != nil {
				continue
			}
			for _, f := range sub {
				if strings.HasPrefix(f.Name(), ".") && strings.Contains(f.Name(), ".tmp") {
					os.Remove(filepath.Join(s.dir, name, f.Name()))
				}
			}
		}
	}
}

func (s *Store) volumeDir(name string) string { return filepath.Join(s.dir, name) }

// readMeta loads volume name. A volume directory with a _data directory
// but no meta.json (copied from Docker's /var/lib/docker/volumes, say) is
// a plain local volume created when the directory was.
func (s *Store) readMeta(name string) (*meta, error) {
	if ValidateName(name) != nil {
		return nil, ErrNotFound
	}
	dir := s.volumeDir(name)
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		fi, serr := os.Stat(filepath.Join(dir, dataDir))
		if serr != nil || !fi.IsDir() {
			return nil, ErrNotFound
		}
		return &meta{Version: metaVersion, Name: name, Driver: DefaultDriver, CreatedAt: fi.ModTime()}, nil
	}
	if err != nil {
		return nil, err
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("volume %s: corrupt %s: %w", name, metaFile, err)
	}
	if m.Version > metaVersion {
		return nil, fmt.Errorf("volume %s: metadata version %d is newer than this hull supports (%d)", name, m.Version, metaVersion)
	}
	m.Name = name
	if m.Driver == "" {
		m.Driver = DefaultDriver
	}
	return &m, nil
}

func (s *Store) writeMeta(dir string, m *meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, metaFile), b, 0o600)
}

func (s *Store) toVolume(m *meta) *Volume {
	v := &Volume{
		Name:       m.Name,
		Driver:     m.Driver,
		Mountpoint: filepath.Join(s.volumeDir(m.Name), dataDir),
		CreatedAt:  m.CreatedAt,
		Labels:     cloneMap(m.Labels),
		Options:    cloneMap(m.Options),
	}
	_, v.Anonymous = v.Labels[AnonymousLabel]
	return v
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// Get returns the volume name; errors.Is(err, ErrNotFound) if there is
// none.
func (s *Store) Get(name string) (*Volume, error) {
	m, err := s.readMeta(name)
	if err != nil {
		return nil, &OpError{Op: "get", Name: name, Err: err}
	}
	return s.toVolume(m), nil
}

// List returns all volumes, sorted by name.
func (s *Store) List() ([]*Volume, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []*Volume
	for _, e := range entries {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		m, err := s.readMeta(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile, or not a volume
		}
		if err != nil {
			return nil, fmt.Errorf("list volumes: %w", err)
		}
		out = append(out, s.toVolume(m))
	}
	return out, nil
}

// randomName returns 64 random hex digits, the name of an anonymous volume.
func randomName() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Create creates a volume; an empty name creates an anonymous volume with
// a random name. Creating a volume that exists returns the existing one
// (as Docker does) unless it was created with other driver options.
func (s *Store) Create(name string, o CreateOptions) (*Volume, error) {
	labels := cloneMap(o.Labels)
	if name == "" {
		n, err := randomName()
		if err != nil {
			return nil, fmt.Errorf("create volume: %w", err)
		}
		name = n
		o.Anonymous = true
	}
	if o.Anonymous {
		if labels == nil {
			labels = map[string]string{}
		}
		if _, ok := labels[AnonymousLabel]; !ok {
			labels[AnonymousLabel] = ""
		}
	}
	opErr := func(err error) error { return &OpError{Op: "create", Name: name, Err: err} }
	if err := ValidateName(name); err != nil {
		return nil, opErr(err)
	}
	if err := checkDriver(o.Driver); err != nil {
		return nil, opErr(err)
	}
	if err := ValidateOptions(o.Options); err != nil {
		return nil, opErr(err)
	}
	options := cloneMap(o.Options)

	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if m, err := s.readMeta(name); err == nil {
		if !maps.Equal(m.Options, options) {
			return nil, opErr(fmt.Errorf("volume %q already exists with different options: %w", name, ErrConflict))
		}
		return s.toVolume(m), nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, opErr(err)
	}
	if _, err := os.Lstat(s.volumeDir(name)); err == nil {
		// A directory that is not a volume (no _data): leave it alone.
		return nil, opErr(fmt.Errorf("%s exists and is not a volume: %w", s.volumeDir(name), ErrConflict))
	}

	m := &meta{
		Version:   metaVersion,
		Name:      name,
		Driver:    DefaultDriver,
		CreatedAt: time.Now().Truncate(time.Second),
		Labels:    labels,
		Options:   options,
	}
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix+"create-")
	if err != nil {
		return nil, opErr(err)
	}
	err = func() error {
		if err := os.Chmod(tmp, 0o701); err != nil {
			return err
		}
		data := filepath.Join(tmp, dataDir)
		if err := os.Mkdir(data, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(data, 0o755); err != nil { // no umask
			return err
		}
		if err := s.writeMeta(tmp, m); err != nil {
			return err
		}
		if err := syncDir(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, s.volumeDir(name)); err != nil {
			return err
		}
		return syncDir(s.dir)
	}()
	if err != nil {
		_ = removeTree(tmp)
		return nil, opErr(err)
	}
	return s.toVolume(m), nil
}

// Remove deletes the volume name and its data. inUse are the containers
// that use it (from the container store): if there are any, or the volume
// is mounted, it is not removed. With force, a missing volume is not an
// error.
func (s *Store) Remove(name string, force bool, inUse []string) error {
	unlock, err := s.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.readMeta(name)
	if errors.Is(err, ErrNotFound) {
		if force {
			return nil
		}
		return &OpError{Op: "get", Name: name, Err: ErrNotFound}
	}
	if err != nil {
		return &OpError{Op: "remove", Name: name, Err: err}
	}
	if len(inUse) > 0 {
		return &OpError{Op: "remove", Name: name, Err: ErrInUse, Refs: slices.Clone(inUse)}
	}
	return s.remove(s.toVolume(m))
}

// remove deletes v; the caller holds the lock.
func (s *Store) remove(v *Volume) error {
	if v.needsMount() {
		n, mounted, err := s.mountCount(v)
		if err != nil {
			return &OpError{Op: "remove", Name: v.Name, Err: err}
		}
		if n > 0 {
			return &OpError{Op: "remove", Name: v.Name, Err: fmt.Errorf("%w: mounted %d %s", ErrInUse, n, plural(n, "time"))}
		}
		if mounted {
			// A mount nobody counts: left by a crash.
			if err := unmount(v.Mountpoint); err != nil {
				return &OpError{Op: "remove", Name: v.Name, Err: err}
			}
		}
	}
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix+"remove-")
	if err != nil {
		return &OpError{Op: "remove", Name: v.Name, Err: err}
	}
	trash := filepath.Join(tmp, "volume")
	if err := os.Rename(s.volumeDir(v.Name), trash); err != nil {
		os.Remove(tmp)
		return &OpError{Op: "remove", Name: v.Name, Err: err}
	}
	_ = syncDir(s.dir)
	if err := removeTree(tmp); err != nil {
		// The volume is gone; the next Open retries the deletion.
		return &OpError{Op: "remove", Name: v.Name, Err: err}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// LabelFilter selects volumes by label like Docker's label= and label!=
// filters: each entry is "KEY" or "KEY=VALUE".
type LabelFilter struct {
	// Include: a volume must match every entry.
	Include []string
	// Exclude: a volume matching every entry is left out.
	Exclude []string
}

// Match reports whether labels pass the filter.
func (f LabelFilter) Match(labels map[string]string) bool {
	if len(f.Include) > 0 && !matchKVList(f.Include, labels) {
		return false
	}
	if len(f.Exclude) > 0 && matchKVList(f.Exclude, labels) {
		return false
	}
	return true
}

func matchKVList(list []string, labels map[string]string) bool {
	if len(labels) == 0 {
		return false
	}
	for _, kv := range list {
		k, want, hasValue := strings.Cut(kv, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// Prune removes unused volumes that pass the label filter: with all every
// one, else only anonymous ones (Docker 23+). inUse reports whether
// containers use a volume; volumes with driver options are never pruned
// (as in Docker). It returns the names removed, sorted, and the space
// their data took.
func (s *Store) Prune(all bool, filter LabelFilter, inUse func(name string) bool) (removed []string, reclaimed uint64, err error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	vols, err := s.List()
	if err != nil {
		return nil, 0, err
	}
	for _, v := range vols {
		if (!all && !v.Anonymous) || len(v.Options) > 0 || !filter.Match(v.Labels) {
			continue
		}
		if inUse != nil && inUse(v.Name) {
			continue
		}
		size, _ := v.Size()
		if err := s.remove(v); err != nil {
			continue // as Docker: skipped
		}
		removed = append(removed, v.Name)
		reclaimed += uint64(size)
	}
	return removed, reclaimed, nil
}

// readCount reads a counter file; a missing file is 0.
func readCount(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return 0, nil // corrupt: trust the mount table instead
	}
	return n, nil
}

package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/procstat"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/hull-project/hull/cgroup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultRoot is the default state root of `hull runtime` (runc's is
// /run/runc).
const DefaultRoot = "/run/hull/runtime"

// Names of the files in a container's state directory.
const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
)

// Status is a container's lifecycle status, as runc reports it.
type Status string

// The statuses of a container.
const (
	Creating Status = "creating"
	Created  Status = "created"
	Running  Status = "running"
	Paused   Status = "paused"
	Stopped  Status = "stopped"
)

// Errors returned by the lifecycle operations; match them with errors.Is.
// Their messages are runc's.
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container with id exists")
	ErrNotRunning = errors.New("container not running")
	ErrInvalidID  = errors.New("invalid id format")
)

// State is a container's state in the form `runc state` prints: the OCI
// state plus the rootfs, creation time and owner.
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      Status            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// OCI returns the OCI runtime-spec state (what hooks read on stdin).
func (s *State) OCI() *specs.State {
	st := s.Status
	if st == Paused {
		st = Running
	}
	return &specs.State{
		Version:     specs.Version,
		ID:          s.ID,
		Status:      specs.ContainerState(st),
		Pid:         s.Pid,
		Bundle:      s.Bundle,
		Annotations: s.Annotations,
	}
}

// record is what state.json holds.
type record struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Rootfs string `json:"rootfs"`
	// InitPid is the init process's pid in hull's pid namespace and
	// InitStartTime its start time (field 22 of /proc/<pid>/stat), so a
	// reused pid is not mistaken for the container.
	InitPid       int       `json:"initPid"`
	InitStartTime uint64    `json:"initStartTime"`
	Created       time.Time `json:"created"`
	// CgroupPath is the container's cgroup, as given to cgroup.New.
	CgroupPath string `json:"cgroupPath"`
	// HostMounts: the container has no mount namespace, so its mounts
	// live in hull's and delete unmounts them.
	HostMounts bool `json:"hostMounts,omitempty"`
	// Config is the bundle's config.json as it was at create time.
	Config *specs.Spec `json:"config"`
}

// Runtime manages the containers whose state lives under Root.
type Runtime struct {
	// Root is the state directory, DefaultRoot if empty.
	Root string
}

func (r *Runtime) root() string {
	if r.Root == "" {
		return DefaultRoot
	}
	return r.Root
}

// ValidateID checks a container ID the way runc does: ^[\w+.-]+$ (ASCII
// letters, digits, '_', '+', '.', '-'), not "." or "..", at most 1024
// bytes.
func ValidateID(id string) error {
	if !validIDChars(id) || id == "." || id == ".." || len(id) > 1024 {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// validIDChars reports whether id matches ^[\w+.-]+$ (without a regexp
// compiled at every start of hull).
func validIDChars(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '+', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// Container is one container under a Runtime's root.
type Container struct {
	rt  *Runtime
	id  string
	dir string
	rec record
	// cmd is init, in the process that created the container (see Wait).
	cmd *exec.Cmd
	// cg is the manager of the container's cgroup once made or loaded
	// (see cgroup): loading one costs a few dozen system calls.
	cg cgroup.Manager
}

// ID returns the container's ID.
func (c *Container) ID() string { return c.id }

// Config returns the spec the container was created with.
func (c *Container) Config() *specs.Spec { return c.rec.Config }

// InitPid returns the pid of the container's init process (in hull's pid
// namespace).
func (c *Container) InitPid() int { return c.rec.InitPid }

// Load returns the container id.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(r.root(), id)
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read state of %s: %w", id, err)
	}
	c := &Container{rt: r, id: id, dir: dir}
	if err := json.Unmarshal(b, &c.rec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return c, nil
}

// List returns the containers under the root, sorted by ID. State
// directories without a readable state.json are skipped.
func (r *Runtime) List() ([]*Container, error) {
	ents, err := os.ReadDir(r.root())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			continue // being created or deleted, or not ours
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// save writes state.json atomically (temp file, rename).
func (c *Container) save() error {
	b, err := c.encode()
	if err != nil {
		return err
	}
	return c.write(b)
}

// encode returns the content of state.json.
func (c *Container) encode() ([]byte, error) { return json.Marshal(&c.rec) }

// write writes b, from encode, to state.json atomically.
func (c *Container) write(b []byte) error {
	return writeFileAtomic(filepath.Join(c.dir, stateFile), b, 0o600)
}

// writeFileAtomic replaces path atomically without fsync: the state is
// runtime state (on /run, a tmpfs, by default) that does not outlive a
// reboot, and an fsync costs ~20 ms on a disk.
func writeFileAtomic(path string, b []byte, perm fs.FileMode) error {
	return atomicfile.Replace(path, b, perm)
}

// initAlive reports whether the container's init process still runs (is
// neither gone, a zombie, nor a different process with a reused pid).
func (c *Container) initAlive() bool {
	if c.rec.InitPid <= 0 {
		return false
	}
	return procstat.Alive(c.rec.InitPid, c.rec.InitStartTime)
}

// Status derives the container's current status.
func (c *Container) Status() (Status, error) {
	if !c.initAlive() {
		return Stopped, nil
	}
	if frozen, err := c.frozen(); err != nil {
		return "", err
	} else if frozen {
		return Paused, nil
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoFile)); err == nil {
		return Created, nil
	}
	return Running, nil
}

// State returns the container's state as `runc state` prints it: the pid is
// 0 once the container stopped.
func (c *Container) State() (*State, error) {
	st, err := c.Status()
	if err != nil {
		return nil, err
	}
	s := &State{
		Version: specs.Version,
		ID:      c.id,
		Pid:     c.rec.InitPid,
		Status:  st,
		Bundle:  c.rec.Bundle,
		Rootfs:  c.rec.Rootfs,
		Created: c.rec.Created,
	}
	if c.rec.Config != nil {
		s.Annotations = c.rec.Config.Annotations
	}
	if st == Stopped {
		s.Pid = 0
	}
	return s, nil
}

// Owner returns the name of the user owning the state directory (its uid
// if the name is unknown), as `runc list` shows it.
func (c *Container) Owner() string {
	fi, err := os.Stat(c.dir)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	uid := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "#" + uid
}

// lock takes an exclusive flock on the container's state directory; the
// returned function releases it.
func (c *Container) lock() (func(), error) {
	fd, err := unix.Open(c.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", c.dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", c.dir, err)
	}
	return func() { unix.Close(fd) }, nil
}

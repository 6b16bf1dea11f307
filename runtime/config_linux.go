package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Environment variables that carry the control fds to `hull runtime init`.
const (
	envInitPipe    = "_HULL_INIT_PIPE"
	envInitFifo    = "_HULL_INIT_FIFO"
	envInitConsole = "_HULL_INIT_CONSOLE"
	envInitMntns   = "_HULL_INIT_MNTNS"
)

// initConfig is what the parent sends init over the sync socket.
type initConfig struct {
	ID     string      `json:"id"`
	Spec   *specs.Spec `json:"spec"`
	Bundle string      `json:"bundle"`
	// Rootfs is the absolute host path of the root filesystem.
	Rootfs  string `json:"rootfs"`
	NoPivot bool   `json:"noPivot,omitempty"`
	// PreserveFDs is the number of fds from 3 on that the container
	// process inherits.
	PreserveFDs int `json:"preserveFds,omitempty"`
	// Console: a console socket fd is passed (envInitConsole).
	Console bool `json:"console,omitempty"`
	// HostMountNS: the container has no mount namespace of its own: the
	// rootfs is set up in hull's (its mounts are visible on the host until
	// delete removes them) and entered with chroot.
	HostMountNS bool `json:"hostMountNs,omitempty"`
	// NewCgroupNS: init unshares a cgroup namespace first thing.
	NewCgroupNS bool `json:"newCgroupNs,omitempty"`
	// NewTimeNS: init unshares a time namespace (with the spec's
	// linux.timeOffsets) for the container process.
	NewTimeNS bool `json:"newTimeNs,omitempty"`
	// UserNS: init runs in a new user namespace (devices are bind mounted
	// from the host, as mknod is not allowed).
	UserNS bool `json:"userNs,omitempty"`
	// Cgroup describes the container's cgroup for "cgroup" mounts.
	Cgroup cgroupMountInfo `json:"cgroup"`
	// Pid is init's pid as the runtime sees it, for the hooks' state.
	Pid int `json:"pid"`
	// Exec: this is not the container's init but a process to run in the
	// running container (`hull runtime exec`), described by Process; Spec
	// is the container's config (for its seccomp profile).
	Exec    bool           `json:"exec,omitempty"`
	Process *specs.Process `json:"process,omitempty"`
}

// cgroupMountInfo is where the container's cgroup lives on the host.
type cgroupMountInfo struct {
	// V2 is set on a pure cgroup v2 host; Dir is then the container's
	// cgroup directory.
	V2  bool   `json:"v2,omitempty"`
	Dir string `json:"dir,omitempty"`
	// V1 are the container's directories in each v1 hierarchy.
	V1 []cgroupBind `json:"v1,omitempty"`
}

// cgroupBind is the container's directory in one v1 hierarchy.
type cgroupBind struct {
	// Name is the hierarchy's directory name under /sys/fs/cgroup, like
	// "memory" or "cpu,cpuacct".
	Name string `json:"name"`
	// Source is the host directory of the container's cgroup in it.
	Source string `json:"source"`
	// Links are symlinks to Name for co-mounted controllers ("cpu" and
	// "cpuacct" for "cpu,cpuacct").
	Links []string `json:"links,omitempty"`
}

// Sync message types.
const (
	msgConfig    = "config"     // parent → init: the initConfig
	msgHooks     = "hooks"      // init → parent: run prestart/createRuntime hooks
	msgHooksDone = "hooks-done" // parent → init: hooks ran
	msgReady     = "ready"      // init → parent: waiting on exec.fifo
	msgError     = "error"      // either way: failure, with Error
)

// syncMsg is one message on the sync socket between parent and init.
type syncMsg struct {
	Type   string      `json:"type"`
	Config *initConfig `json:"config,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// syncConn exchanges syncMsgs as JSON values over a stream.
type syncConn struct {
	enc *json.Encoder
	dec *json.Decoder
}

func newSyncConn(rw io.ReadWriter) *syncConn {
	return &syncConn{enc: json.NewEncoder(rw), dec: json.NewDecoder(rw)}
}

func (s *syncConn) send(m syncMsg) error { return s.enc.Encode(&m) }

// recv reads the next message; an error message becomes an error.
func (s *syncConn) recv() (syncMsg, error) {
	var m syncMsg
	if err := s.dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, io.ErrUnexpectedEOF
		}
		return m, err
	}
	if m.Type == msgError {
		return m, errors.New(m.Error)
	}
	return m, nil
}

// expect reads the next message and checks its type.
func (s *syncConn) expect(typ string) (syncMsg, error) {
	m, err := s.recv()
	if err != nil {
		return m, err
	}
	if m.Type != typ {
		return m, fmt.Errorf("sync: got %q, want %q", m.Type, typ)
	}
	return m, nil
}

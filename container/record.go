// Package container keeps hull's containers: their records (Docker's
// Config and HostConfig, the options their runtime spec is generated
// from, and their state), their names, their writable layers and root
// file system mounts. It is safe for concurrent use by several hull
// processes: records are rewritten atomically under file locks, so a
// process killed at any moment leaves the store usable.
//
// Running containers are supervised by a monitor (package monitor); this
// package only records what the monitor reports, and tells the truth
// about containers whose monitor is gone (see Store.Get).
package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hull-project/hull/internal/dockermac"
	"github.com/hull-project/hull/internal/dockername"
	"github.com/hull-project/hull/spec"
	mobycontainer "github.com/moby/moby/api/types/container"
	digest "github.com/opencontainers/go-digest"
)

// Status is a container's lifecycle status, as Docker names it.
type Status string

// The statuses of a container.
const (
	Created    Status = "created"
	Running    Status = "running"
	Paused     Status = "paused"
	Restarting Status = "restarting"
	Removing   Status = "removing"
	Exited     Status = "exited"
	Dead       Status = "dead"
)

// Alive reports whether a container in status s has (or may have) a
// process: running, paused or restarting.
func (s Status) Alive() bool { return s == Running || s == Paused || s == Restarting }

// State is the runtime state of a container.
type State struct {
	Status Status `json:"status"`
	// Pid is the container process's pid on the host while it runs.
	Pid int `json:"pid,omitempty"`
	// ExitCode is the last exit code (128+signal for a signal).
	ExitCode int `json:"exitCode"`
	// Error is why the last start failed, if it did.
	Error string `json:"error,omitempty"`
	// OOMKilled says the last run ended with the kernel's OOM killer.
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// ManuallyStopped is set by stop and kill: restart policies other
	// than "always" leave the container alone until it is started again.
	ManuallyStopped bool `json:"manuallyStopped,omitempty"`
	// Health is the health check status, when the container has one.
	Health *mobycontainer.Health `json:"health,omitempty"`
}

// Record is everything hull stores about one container.
type Record struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Image is the image as the user named it; ImageID its config digest.
	Image   string        `json:"image"`
	ImageID digest.Digest `json:"imageID"`
	// Layers are the image's layer diffIDs, bottom first.
	Layers []digest.Digest `json:"layers"`
	// Path and Args are the container's command.
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Config and HostConfig are Docker's view of the container (what
	// inspect shows).
	Config     *mobycontainer.Config     `json:"config"`
	HostConfig *mobycontainer.HostConfig `json:"hostConfig"`
	// Spec are the options the runtime spec is generated from at each
	// start (the rootfs is filled in then).
	Spec spec.Options `json:"spec"`
	// Mounts are the container's mounts as inspect shows them.
	Mounts []mobycontainer.MountPoint `json:"mounts,omitempty"`
	// Volumes are the named volumes the container uses, and
	// AnonymousVolumes those created for it (removed by rm -v / --rm).
	Volumes          []string `json:"volumes,omitempty"`
	AnonymousVolumes []string `json:"anonymousVolumes,omitempty"`
	// FillVolumes maps container paths to volumes that are filled from
	// the image on first start.
	FillVolumes map[string]string `json:"fillVolumes,omitempty"`
	// NetworkSettings are the container's networks by name (Docker's
	// EndpointSettings: the aliases, --ip and --mac-address asked for,
	// and while it runs its address, gateway and endpoint) and, while it
	// runs, its published ports.
	NetworkSettings *mobycontainer.NetworkSettings `json:"networkSettings,omitempty"`
	// NetworkNames are the names of NetworkSettings.Networks in the order
	// the container joins them (the first is its primary network).
	NetworkNames []string `json:"networkNames,omitempty"`
	State        State    `json:"state"`
	// RestartCount counts restarts by the restart policy since the last
	// manual start.
	RestartCount int `json:"restartCount"`
}

// ShortID is the 12-character form of the ID that Docker prints.
func (r *Record) ShortID() string { return ShortID(r.ID) }

// ShortID truncates a container ID to 12 characters.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// NewID returns a random 64-hex-digit container ID that does not look
// like a number (Docker avoids all-digit short IDs).
func NewID() string {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(fmt.Sprintf("container: random ID: %v", err))
		}
		id := hex.EncodeToString(b[:])
		if !allDigits(id[:12]) {
			return id
		}
	}
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ValidateName checks a container name as Docker does (a leading "/" is
// allowed).
func ValidateName(name string) error {
	if !dockername.Valid(strings.TrimPrefix(name, "/")) {
		return fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// ClearRunNetwork forgets what a run had of the network (addresses,
// endpoints, published ports), keeping the networks and the options
// asked for, as Docker shows a stopped container.
func ClearRunNetwork(r *Record) {
	ns := r.NetworkSettings
	if ns == nil {
		return
	}
	ns.SandboxID, ns.SandboxKey, ns.Ports = "", "", nil
	for _, e := range ns.Networks {
		if e == nil {
			continue
		}
		if dockermac.Generated(e.MacAddress, e.IPAddress) {
			// A generated MAC goes with the address; one asked for
			// stays.
			e.MacAddress = nil
		}
		e.EndpointID = ""
		e.Gateway, e.IPAddress = netip.Addr{}, netip.Addr{}
		e.IPPrefixLen = 0
		e.DNSNames = nil
	}
}

// NetworkKind is how the container gets its network: "host", "none",
// "container" (another container's namespace) or "bridge" (its own
// namespace on one or more bridge networks).
func (r *Record) NetworkKind() string {
	m := ""
	if r.HostConfig != nil {
		m = string(r.HostConfig.NetworkMode)
	}
	switch {
	case m == "host", m == "none":
		return m
	case strings.HasPrefix(m, "container:"):
		return "container"
	case m == "" && len(r.NetworkNames) == 0:
		return "none" // a record from before hull had networks
	}
	return "bridge"
}

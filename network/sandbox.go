package network

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/dockermac"
	"github.com/hull-project/hull/internal/procstat"
	"github.com/hull-project/hull/network/bridge"
	"github.com/hull-project/hull/network/ipam"
)

// Attachment is a container's request to join one network.
type Attachment struct {
	// Network is the network's name or ID.
	Network string
	// Aliases are more DNS names of the container on this network.
	Aliases []string
	// IP and MAC are the addresses asked for (--ip, --mac-address);
	// zero values let hull pick.
	IP  netip.Addr
	MAC net.HardwareAddr
}

// Request is what a container asks for when it starts.
type Request struct {
	ContainerID string
	// Name is the container's name (without Docker's leading "/").
	Name     string
	Hostname string
	Networks []Attachment
	Ports    []PortRequest
}

// Endpoint is a container's connection to one network.
type Endpoint struct {
	NetworkID   string `json:"networkID"`
	NetworkName string `json:"networkName"`
	EndpointID  string `json:"endpointID"`
	// Bridge is the network's bridge; HostVeth the host end of the veth
	// pair, IfName the container end (eth0, eth1, …).
	Bridge   string `json:"bridge"`
	HostVeth string `json:"hostVeth"`
	IfName   string `json:"ifName"`
	// Addr is the container's address with the subnet's length.
	Addr netip.Prefix `json:"addr"`
	// Gateway is the network's gateway; Default says the container's
	// default route goes through it.
	Gateway netip.Addr `json:"gateway"`
	Default bool       `json:"default,omitempty"`
	MAC     string     `json:"mac"`
	// Aliases are the --network-alias names; DNSNames every name the
	// embedded DNS answers for (name, aliases, short ID, hostname) — empty
	// on the default bridge network.
	Aliases  []string `json:"aliases,omitempty"`
	DNSNames []string `json:"dnsNames,omitempty"`
	Internal bool     `json:"internal,omitempty"`
}

// Sandbox is a container's network stack: its endpoints and published
// ports, and the process that owns them.
type Sandbox struct {
	ContainerID string `json:"containerID"`
	Name        string `json:"name"`
	Hostname    string `json:"hostname"`
	// Pid and StartTime name the owner: the container's init once
	// wired, before that the process setting it up.
	Pid       int        `json:"pid"`
	StartTime uint64     `json:"startTime"`
	Endpoints []Endpoint `json:"endpoints"`
	// Ports are published to the address of the endpoint with the
	// default route.
	Ports []Port `json:"ports,omitempty"`
}

func (sb *Sandbox) endpoint(networkID string) *Endpoint {
	for i := range sb.Endpoints {
		if sb.Endpoints[i].NetworkID == networkID {
			return &sb.Endpoints[i]
		}
	}
	return nil
}

// PortTarget is the endpoint published ports lead to (the one with the
// default route), or nil.
func (sb *Sandbox) PortTarget() *Endpoint {
	for i := range sb.Endpoints {
		if sb.Endpoints[i].Default {
			return &sb.Endpoints[i]
		}
	}
	return nil
}

// DNS reports whether the container gets the embedded DNS server (it is
// on a user-defined network).
func (sb *Sandbox) DNS() bool {
	for _, e := range sb.Endpoints {
		if len(e.DNSNames) > 0 {
			return true
		}
	}
	return false
}

// Internal reports whether every network of the sandbox is internal (no
// DNS forwarding then: nothing may leave).
func (sb *Sandbox) Internal() bool {
	for _, e := range sb.Endpoints {
		if !e.Internal {
			return false
		}
	}
	return len(sb.Endpoints) > 0
}

func (s *Store) sandboxPath(id string) string { return filepath.Join(s.dir, "sandboxes", id+".json") }

func (s *Store) writeSandbox(sb *Sandbox) error {
	b, err := json.Marshal(sb)
	if err != nil {
		return fmt.Errorf("encode sandbox of %s: %w", sb.Name, err)
	}
	// Not fsynced: a sandbox does not outlive a reboot.
	return atomicfile.Replace(s.sandboxPath(sb.ContainerID), b, 0o600)
}

func (s *Store) readSandbox(id string) (*Sandbox, error) {
	b, err := os.ReadFile(s.sandboxPath(id))
	if err != nil {
		return nil, err
	}
	var sb Sandbox
	if err := json.Unmarshal(b, &sb); err != nil {
		return nil, fmt.Errorf("read sandbox of %s: %w", id, err)
	}
	return &sb, nil
}

// Sandbox returns a container's sandbox, or an error wrapping
// os.ErrNotExist if it has none (not running, or not on a network).
func (s *Store) Sandbox(containerID string) (*Sandbox, error) { return s.readSandbox(containerID) }

// sandboxes reads every sandbox.
func (s *Store) sandboxes() ([]*Sandbox, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "sandboxes"))
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var out []*Sandbox
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		sb, err := s.readSandbox(id)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}

// vethName is the host end's name of a container's veth on a network:
// stable, so a leftover is found and replaced.
func vethName(containerID, networkID string) string {
	h := sha256.Sum256([]byte(containerID + "/" + networkID))
	return "vh" + hex.EncodeToString(h[:])[:11]
}

// Allocate reserves what the container asks for: an address on each
// network and the published host ports. It returns the sandbox (owned
// by the calling process until Wire) and the port reservation, which
// keeps the host ports bound (so no other program takes them) until it
// is closed. A leftover sandbox of the container is released first.
func (s *Store) Allocate(req Request) (sb *Sandbox, res *Reservation, err error) {
	l, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	defer l.Unlock()
	if _, err := s.readSandbox(req.ContainerID); err == nil {
		if err := s.release(req.ContainerID); err != nil {
			return nil, nil, err
		}
	}
	nets, err := s.list()
	if err != nil {
		return nil, nil, err
	}
	start, err := procstat.StartTime(os.Getpid())
	if err != nil {
		return nil, nil, err
	}
	sb = &Sandbox{ContainerID: req.ContainerID, Name: req.Name, Hostname: req.Hostname, Pid: os.Getpid(), StartTime: start}
	defer func() {
		if err != nil {
			for _, e := range sb.Endpoints {
				_ = s.ipam.ReleaseOwner(e.NetworkID, req.ContainerID)
			}
			if res != nil {
				res.Close()
				res = nil
			}
		}
	}()
	swept := false
	for _, a := range req.Networks {
		n, err := find(nets, a.Network)
		if err != nil {
			return sb, nil, err
		}
		if n.Driver != DriverBridge {
			return sb, nil, fmt.Errorf("container cannot be connected to network %s together with other networks", n.Name)
		}
		if sb.endpoint(n.ID) != nil {
			return sb, nil, fmt.Errorf("container is connected to network %s twice", n.Name)
		}
		e, err := s.newEndpoint(sb, n, a, len(sb.Endpoints))
		if err != nil && !swept && (errors.Is(err, ipam.ErrInUse) || errors.Is(err, ipam.ErrExhausted)) {
			// The address may be held by a container that died
			// unwatched: sweep, then try once more.
			swept = true
			if _, serr := s.sweep(); serr != nil {
				return sb, nil, serr
			}
			e, err = s.newEndpoint(sb, n, a, len(sb.Endpoints))
		}
		if err != nil {
			return sb, nil, err
		}
		sb.Endpoints = append(sb.Endpoints, *e)
	}
	for i := range sb.Endpoints {
		if !sb.Endpoints[i].Internal {
			sb.Endpoints[i].Default = true
			break
		}
	}
	if len(req.Ports) > 0 {
		if sb.PortTarget() == nil {
			return sb, nil, errors.New("publishing ports needs a network that is not --internal")
		}
		t, _ := find(nets, sb.PortTarget().NetworkID)
		if res, err = s.reservePorts(req, t.PublishAddr()); err != nil {
			return sb, nil, err
		}
		sb.Ports = res.Ports
	}
	if err := s.writeSandbox(sb); err != nil {
		return sb, res, err
	}
	return sb, res, nil
}

// newEndpoint allocates the address of a container on n.
func (s *Store) newEndpoint(sb *Sandbox, n *Network, a Attachment, index int) (*Endpoint, error) {
	if a.IP.IsValid() && !a.IP.Is4() {
		return nil, fmt.Errorf("invalid IP address %s for network %s: hull networks are IPv4 only", a.IP, n.Name)
	}
	if a.IP.IsValid() && !n.Subnet.Contains(a.IP) {
		return nil, fmt.Errorf("invalid IP address %s: it is not in network %s's subnet %s", a.IP, n.Name, n.Subnet)
	}
	ip, err := s.ipam.Allocate(n.ID, sb.ContainerID, a.IP)
	if err != nil {
		return nil, fmt.Errorf("address on network %s: %w", n.Name, err)
	}
	mac := a.MAC
	if mac == nil {
		mac = dockermac.For(ip)
	}
	e := &Endpoint{
		NetworkID: n.ID, NetworkName: n.Name, EndpointID: newID(),
		Bridge: n.Bridge, HostVeth: vethName(sb.ContainerID, n.ID), IfName: "eth" + strconv.Itoa(index),
		Addr: netip.PrefixFrom(ip, n.Subnet.Bits()), Gateway: n.Gateway, MAC: mac.String(),
		Aliases: a.Aliases, Internal: n.Internal,
	}
	if n.DNS() {
		names := []string{sb.Name}
		names = append(names, a.Aliases...)
		names = append(names, sb.ContainerID[:12])
		if sb.Hostname != "" {
			names = append(names, sb.Hostname)
		}
		seen := map[string]bool{}
		for _, nm := range names {
			nm = strings.ToLower(strings.TrimSuffix(nm, "."))
			if nm != "" && !seen[nm] {
				seen[nm] = true
				e.DNSNames = append(e.DNSNames, nm)
			}
		}
	}
	return e, nil
}

// nsPath is the network namespace of a process.
func nsPath(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/ns/net" }

// Wire connects the allocated sandbox to the network namespace of the
// container whose init is pid: a veth per endpoint, its addresses and
// default route, the bridges made if missing, and the firewall rules
// for its published ports. The sandbox is then owned by pid. On error
// the caller releases the sandbox.
func (s *Store) Wire(sb *Sandbox, pid int) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	start, err := procstat.StartTime(pid)
	if err != nil {
		return fmt.Errorf("container process %d: %w", pid, err)
	}
	sb.Pid, sb.StartTime = pid, start
	// Owned by the container from now on, so a veth made below is
	// released by a sweep if this process dies on the way.
	if err := s.writeSandbox(sb); err != nil {
		return err
	}
	fw := len(sb.Ports) > 0
	for _, e := range sb.Endpoints {
		created, err := s.wireEndpoint(e, pid)
		if err != nil {
			return err
		}
		fw = fw || created
	}
	if fw {
		return s.applyFirewall()
	}
	return nil
}

// wireEndpoint makes one endpoint's veth; it reports whether the bridge
// had to be made.
func (s *Store) wireEndpoint(e Endpoint, pid int) (bool, error) {
	n, err := s.read(e.NetworkID)
	if err != nil {
		return false, fmt.Errorf("network %s: %w", e.NetworkName, err)
	}
	created, err := s.ensureBridgeCreated(n)
	if err != nil {
		return false, err
	}
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return false, fmt.Errorf("MAC address %q: %w", e.MAC, err)
	}
	ep := bridge.Endpoint{HostName: e.HostVeth, NS: nsPath(pid), IfName: e.IfName, Addr: e.Addr, MAC: mac, MTU: n.MTU}
	if e.Default {
		ep.Gateway = e.Gateway
	}
	// A veth of an earlier run whose namespace is still being torn down
	// would take the name.
	_ = bridge.Detach(e.HostVeth)
	if err := bridge.Attach(e.Bridge, ep); err != nil {
		return created, fmt.Errorf("connect to network %s: %w", e.NetworkName, err)
	}
	return created, nil
}

// Release frees a container's sandbox: its veths, addresses, published
// ports and their rules. A container without one is not an error.
func (s *Store) Release(containerID string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	return s.release(containerID)
}

func (s *Store) release(containerID string) error {
	sb, err := s.readSandbox(containerID)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// An unreadable sandbox is dropped rather than blocking the
		// container for ever.
		sb = &Sandbox{ContainerID: containerID}
	}
	var errs []error
	// The veths of a container whose process is gone go with its
	// network namespace (the kernel tears it down in the background);
	// deleting them here would only wait for that.
	alive := procstat.Alive(sb.Pid, sb.StartTime)
	for _, e := range sb.Endpoints {
		if alive {
			if err := bridge.Detach(e.HostVeth); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.ipam.ReleaseOwner(e.NetworkID, containerID); err != nil && !errors.Is(err, ipam.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(s.sandboxPath(containerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if len(sb.Ports) > 0 {
		if err := s.applyFirewall(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("release the network of container %.12s: %w", containerID, errors.Join(errs...))
	}
	return nil
}

// Sweep releases the sandboxes whose owner process is gone (a container
// that died while no monitor watched it, a monitor killed while starting
// one, a reboot) and returns their container IDs.
func (s *Store) Sweep() ([]string, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	return s.sweep()
}

func (s *Store) sweep() ([]string, error) {
	sbs, err := s.sandboxes()
	if err != nil {
		return nil, err
	}
	var gone []string
	owners := map[string]bool{}
	for _, sb := range sbs {
		if procstat.Alive(sb.Pid, sb.StartTime) {
			owners[sb.ContainerID] = true
			continue
		}
		if err := s.release(sb.ContainerID); err != nil {
			return gone, err
		}
		gone = append(gone, sb.ContainerID)
	}
	return gone, s.sweepIPAM(owners)
}

// sweepIPAM drops what a process killed half-way through left in IPAM:
// addresses whose owner has no sandbox (killed between allocating and
// writing it) and tables of networks without a record (killed while
// creating or removing one). Every change happens under the store lock,
// which the caller holds, so nothing found here is in progress.
func (s *Store) sweepIPAM(owners map[string]bool) error {
	tables, err := s.ipam.Networks()
	if err != nil {
		return err
	}
	for _, id := range tables {
		if _, err := os.Stat(s.recordPath(id)); errors.Is(err, os.ErrNotExist) {
			if err := s.ipam.Delete(id); err != nil && !errors.Is(err, ipam.ErrNotFound) {
				return err
			}
			continue
		}
		_, inUse, err := s.ipam.InUse(id)
		if err != nil {
			continue
		}
		for _, owner := range inUse {
			if !owners[owner] {
				if err := s.ipam.ReleaseOwner(id, owner); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Connect connects the running container whose init is pid, with
// sandbox sb's owner, to one more network.
func (s *Store) Connect(containerID string, pid int, a Attachment) (*Endpoint, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	sb, err := s.readSandbox(containerID)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("container has no network stack of its own to connect (network mode host, none or container:)")
		}
		return nil, err
	}
	if !procstat.Alive(sb.Pid, sb.StartTime) || sb.Pid != pid {
		return nil, fmt.Errorf("container %s is not running", sb.Name)
	}
	nets, err := s.list()
	if err != nil {
		return nil, err
	}
	n, err := find(nets, a.Network)
	if err != nil {
		return nil, err
	}
	if n.Driver != DriverBridge {
		return nil, fmt.Errorf("container cannot be disconnected from host network or connected to host network")
	}
	if sb.endpoint(n.ID) != nil {
		return nil, fmt.Errorf("endpoint with name %s already exists in network %s", sb.Name, n.Name)
	}
	index := 0
	for _, e := range sb.Endpoints {
		if i, err := strconv.Atoi(strings.TrimPrefix(e.IfName, "eth")); err == nil && i >= index {
			index = i + 1
		}
	}
	e, err := s.newEndpoint(sb, n, a, index)
	if err != nil {
		return nil, err
	}
	if _, err := s.wireEndpoint(*e, pid); err != nil {
		_ = s.ipam.ReleaseOwner(n.ID, containerID)
		return nil, err
	}
	sb.Endpoints = append(sb.Endpoints, *e)
	if err := s.writeSandbox(sb); err != nil {
		_ = bridge.Detach(e.HostVeth)
		_ = s.ipam.ReleaseOwner(n.ID, containerID)
		return nil, err
	}
	return e, nil
}

// Disconnect removes a running container's endpoint on a network.
func (s *Store) Disconnect(containerID, network string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	sb, err := s.readSandbox(containerID)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container is not connected to network %s", network)
		}
		return err
	}
	nets, err := s.list()
	if err != nil {
		return err
	}
	n, err := find(nets, network)
	if err != nil {
		return err
	}
	e := sb.endpoint(n.ID)
	if e == nil {
		return fmt.Errorf("container %s is not connected to network %s", sb.Name, n.Name)
	}
	if err := bridge.Detach(e.HostVeth); err != nil {
		return err
	}
	if err := s.ipam.ReleaseOwner(n.ID, containerID); err != nil {
		return err
	}
	ports := e.Default && len(sb.Ports) > 0
	sb.Endpoints = slices.DeleteFunc(sb.Endpoints, func(x Endpoint) bool { return x.NetworkID == n.ID })
	if ports {
		// The published ports went with the endpoint they led to.
		sb.Ports = nil
	}
	if err := s.writeSandbox(sb); err != nil {
		return err
	}
	if ports {
		return s.applyFirewall()
	}
	return nil
}

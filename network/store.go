// Package network gives hull's containers Docker's networking: the
// predefined networks bridge (the default, like docker0), host and none,
// user-defined bridge networks with an embedded DNS server, addresses
// from IPAM, egress through NAT, isolation between networks, and
// published ports.
//
// A Store keeps the network records, the IPAM tables (package ipam) and
// one sandbox file per container with a network stack, each rewritten
// atomically under the store's file lock, so several hull processes may
// use it at once. Every sandbox names the process that owns it (the
// container's init, or the monitor while it sets the container up); a
// sandbox whose owner is gone is stale, and Sweep releases what it
// holds. So a container killed with -9, a killed monitor or a reboot
// leave nothing that the next hull command does not clean up: the veth
// pairs die with the container's network namespace, and addresses and
// firewall rules are released by the sweep.
//
// The links are made by package bridge (netlink), the NAT and filter
// rules by package firewall (nftables), the DNS server by package dns.
package network

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/dockername"
	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/network/ipam"
)

// Drivers of the networks.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// Names of the predefined networks.
const (
	DefaultName = "bridge"
	HostName    = "host"
	NoneName    = "none"
)

// DefaultDir is where the host's networks are kept: one store for every
// hull root on the host, as bridges, the firewall table and host ports
// are shared by all of them.
const DefaultDir = "/var/lib/hull/network"

// DefaultBridge is the interface of the default network (Docker's docker0).
const DefaultBridge = "hull0"

// HostBindingOption is Docker's network option for the host address
// ports are published on when -p names none (0.0.0.0 by default):
// 127.0.0.1 keeps a network's published ports off the host's other
// interfaces.
const HostBindingOption = "com.docker.network.bridge.host_binding_ipv4"

// PublishAddr is the host address ports are published on when -p names
// none: the network's HostBindingOption, else every address (zero).
func (n *Network) PublishAddr() netip.Addr {
	a, _ := netip.ParseAddr(n.Options[HostBindingOption])
	if a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// ErrNotFound is returned for a network that does not exist.
var ErrNotFound = errors.New("network not found")

// Network is one network's record.
type Network struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Driver  string    `json:"driver"`
	Created time.Time `json:"created"`
	// Bridge is the bridge interface of a bridge network.
	Bridge  string       `json:"bridge,omitempty"`
	Subnet  netip.Prefix `json:"subnet,omitzero"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	IPRange netip.Prefix `json:"ipRange,omitzero"`
	// Internal networks have no traffic in or out but among members.
	Internal bool `json:"internal,omitempty"`
	// MTU of the bridge and the veths (0: the kernel's default).
	MTU     int               `json:"mtu,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

// Predefined reports whether n is one of bridge, host and none.
func (n *Network) Predefined() bool {
	return n.Name == DefaultName || n.Name == HostName || n.Name == NoneName
}

// DNS reports whether containers on n get the embedded DNS server:
// user-defined bridge networks do, the default bridge does not (as in
// Docker).
func (n *Network) DNS() bool { return n.Driver == DriverBridge && n.Name != DefaultName }

// ShortID is the 12-character ID Docker prints.
func (n *Network) ShortID() string { return n.ID[:12] }

// Store keeps hull's networks under one directory.
type Store struct {
	dir  string
	ipam *ipam.Store
	// hostRoutes lists the host's routes (for picking free subnets);
	// replaced in tests.
	hostRoutes func() ([]netip.Prefix, error)
}

// Open opens (creating) the store in dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, "sandboxes")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open network store: %w", err)
		}
	}
	im, err := ipam.Open(filepath.Join(dir, "ipam"))
	if err != nil {
		return nil, err
	}
	return &Store{dir: dir, ipam: im, hostRoutes: hostRoutes}, nil
}

func (s *Store) lock() (*flock.Lock, error) { return flock.Exclusive(filepath.Join(s.dir, ".lock")) }

func (s *Store) recordPath(id string) string { return filepath.Join(s.dir, id+".json") }

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("network: random ID: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// CreateOptions are network create's options.
type CreateOptions struct {
	Name   string
	Driver string // "" or "bridge"
	// Subnet, Gateway and IPRange are the address plan; a free subnet is
	// picked when Subnet is not valid.
	Subnet   netip.Prefix
	Gateway  netip.Addr
	IPRange  netip.Prefix
	Internal bool
	Labels   map[string]string
	// Options are driver options: com.docker.network.bridge.name and
	// com.docker.network.driver.mtu (or mtu).
	Options map[string]string
}

// Create makes a user-defined bridge network and its bridge.
func (s *Store) Create(o CreateOptions) (*Network, error) {
	// Docker's network names are like container names, one character
	// allowed.
	if !dockername.Valid(o.Name) && !dockername.Valid(o.Name+"x") {
		return nil, fmt.Errorf("invalid network name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name)
	}
	switch o.Name {
	case DefaultName, HostName, NoneName, "default":
		return nil, fmt.Errorf("operation is not permitted on predefined %s network", o.Name)
	}
	switch o.Driver {
	case "", DriverBridge:
	case DriverHost, DriverNull:
		return nil, fmt.Errorf("only one instance of %q network is allowed", o.Driver)
	default:
		return nil, fmt.Errorf("network driver %q is not supported: hull has bridge networks", o.Driver)
	}
	if (o.Gateway.IsValid() || o.IPRange.IsValid()) && !o.Subnet.IsValid() {
		return nil, errors.New("--gateway and --ip-range need --subnet")
	}
	if o.Subnet.IsValid() && !o.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("subnet %s: hull networks are IPv4 only", o.Subnet)
	}
	n := &Network{
		ID: newID(), Name: o.Name, Driver: DriverBridge, Created: time.Now().UTC(),
		Internal: o.Internal, Labels: o.Labels, Options: o.Options,
	}
	n.Bridge = "hull-" + n.ID[:10]
	for k, v := range o.Options {
		switch k {
		case "com.docker.network.bridge.name":
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t\n:") {
				return nil, fmt.Errorf("invalid bridge name %q: want 1 to 15 characters without '/', ':' or spaces", v)
			}
			n.Bridge = v
		case "com.docker.network.driver.mtu", "mtu":
			mtu, err := strconv.Atoi(v)
			if err != nil || mtu < 68 || mtu > 65535 {
				return nil, fmt.Errorf("invalid MTU %q: want a number from 68 to 65535", v)
			}
			n.MTU = mtu
		case HostBindingOption:
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("invalid %s %q: want an IPv4 address", k, v)
			}
		case "com.docker.network.bridge.enable_ip_masquerade", "com.docker.network.bridge.enable_icc",
			"com.docker.network.enable_ipv6":
			return nil, fmt.Errorf("network option %s is not supported by hull", k)
		default:
			// Docker passes unknown options to the driver, which
			// ignores them; so does hull.
		}
	}
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	// What a killed hull left (an IPAM table without its network) must
	// not keep the subnet taken.
	if _, err := s.sweep(); err != nil {
		return nil, err
	}
	nets, err := s.list()
	if err != nil {
		return nil, err
	}
	for _, x := range nets {
		if x.Name == n.Name {
			return nil, fmt.Errorf("network with name %s already exists", n.Name)
		}
		if x.Bridge != "" && x.Bridge == n.Bridge {
			return nil, fmt.Errorf("bridge %s is used by network %s", n.Bridge, x.Name)
		}
	}
	if err := s.plan(n, o.Subnet, o.Gateway, o.IPRange); err != nil {
		return nil, err
	}
	if err := s.write(n); err != nil {
		_ = s.ipam.Delete(n.ID)
		return nil, err
	}
	if err := s.ensureBridge(n); err != nil {
		_ = s.remove(n)
		return nil, err
	}
	if err := s.applyFirewall(); err != nil {
		_ = s.remove(n)
		return nil, err
	}
	return n, nil
}

// plan gives n its address plan in IPAM: the subnet asked for, or the
// first free one of the default pools.
func (s *Store) plan(n *Network, subnet netip.Prefix, gw netip.Addr, rng netip.Prefix) error {
	if subnet.IsValid() {
		c, err := s.ipam.Create(n.ID, ipam.Config{Subnet: subnet, Gateway: gw, Range: rng})
		if err != nil {
			if errors.Is(err, ipam.ErrOverlap) {
				return fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space: %w", err)
			}
			return err
		}
		n.Subnet, n.Gateway, n.IPRange = c.Subnet, c.Gateway, c.Range
		return nil
	}
	routes, err := s.hostRoutes()
	if err != nil {
		return err
	}
	for _, p := range defaultPools() {
		if overlapsAny(p, routes) {
			continue
		}
		c, err := s.ipam.Create(n.ID, ipam.Config{Subnet: p})
		if errors.Is(err, ipam.ErrOverlap) {
			continue
		}
		if err != nil {
			return err
		}
		n.Subnet, n.Gateway = c.Subnet, c.Gateway
		return nil
	}
	return errors.New("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
}

func (s *Store) write(n *Network) error {
	b, err := json.MarshalIndent(n, "", "\t")
	if err != nil {
		return fmt.Errorf("encode network %s: %w", n.Name, err)
	}
	return atomicfile.WriteFile(s.recordPath(n.ID), b, 0o600)
}

func (s *Store) read(id string) (*Network, error) {
	b, err := os.ReadFile(s.recordPath(id))
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("read network %s: %w", id, err)
	}
	return &n, nil
}

// list reads every network record by name, the predefined ones made on
// first use. The caller holds the lock.
func (s *Store) list() ([]*Network, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var out []*Network
	have := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || e.IsDir() {
			continue
		}
		n, err := s.read(strings.TrimSuffix(name, ".json"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, n)
		have[n.Name] = true
	}
	for _, p := range []struct{ name, driver string }{{DefaultName, DriverBridge}, {HostName, DriverHost}, {NoneName, DriverNull}} {
		if have[p.name] {
			continue
		}
		n := &Network{ID: newID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC()}
		if p.driver == DriverBridge {
			n.Bridge = DefaultBridge
			if err := s.plan(n, netip.Prefix{}, netip.Addr{}, netip.Prefix{}); err != nil {
				return nil, fmt.Errorf("default network: %w", err)
			}
		}
		if err := s.write(n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	// By name, as docker network ls sorts them.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// List returns every network, by name.
func (s *Store) List() ([]*Network, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	return s.list()
}

// Get finds a network by name, full ID or unique ID prefix ("default"
// is the default bridge network).
func (s *Store) Get(ref string) (*Network, error) {
	nets, err := s.List()
	if err != nil {
		return nil, err
	}
	return find(nets, ref)
}

func find(nets []*Network, ref string) (*Network, error) {
	if ref == "default" {
		ref = DefaultName
	}
	for _, n := range nets {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
	}
	var match *Network
	if ref != "" {
		for _, n := range nets {
			if strings.HasPrefix(n.ID, ref) {
				if match != nil {
					return nil, fmt.Errorf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2)
				}
				match = n
			}
		}
	}
	if match == nil {
		return nil, fmt.Errorf("network %s not found: %w", ref, ErrNotFound)
	}
	return match, nil
}

// Remove deletes a user-defined network that no running container is
// connected to, with its bridge.
func (s *Store) Remove(ref string) (*Network, error) {
	l, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	nets, err := s.list()
	if err != nil {
		return nil, err
	}
	n, err := find(nets, ref)
	if err != nil {
		return nil, err
	}
	if n.Predefined() {
		return nil, fmt.Errorf("%s is a pre-defined network and cannot be removed", n.Name)
	}
	if _, err := s.sweep(); err != nil {
		return nil, err
	}
	sbs, err := s.sandboxes()
	if err != nil {
		return nil, err
	}
	var users []string
	for _, sb := range sbs {
		if sb.endpoint(n.ID) != nil {
			users = append(users, sb.Name)
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return nil, fmt.Errorf("error while removing network: network %s id %s has active endpoints (%s)", n.Name, n.ID, strings.Join(users, ", "))
	}
	if err := s.remove(n); err != nil {
		return nil, err
	}
	return n, s.applyFirewall()
}

// remove deletes n's bridge, IPAM table and record. The caller holds the
// lock.
//
// The order makes a kill -9 at any point harmless: a bridge is made
// again on demand while the record exists, and an IPAM table without a
// record is dropped by the next sweep.
func (s *Store) remove(n *Network) error {
	if n.Bridge != "" {
		if err := deleteBridge(n.Bridge); err != nil {
			return err
		}
	}
	if err := os.Remove(s.recordPath(n.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network %s: %w", n.Name, err)
	}
	if err := s.ipam.Delete(n.ID); err != nil && !errors.Is(err, ipam.ErrNotFound) {
		return err
	}
	return nil
}

// InUse lists the addresses of n in use and their owners.
func (s *Store) InUse(n *Network) (map[netip.Addr]string, error) {
	if n.Driver != DriverBridge {
		return nil, nil
	}
	_, owners, err := s.ipam.InUse(n.ID)
	return owners, err
}

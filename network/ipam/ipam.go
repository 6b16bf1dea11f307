// Package ipam hands out the IP addresses of hull's networks: each
// network has a subnet, a gateway, an optional range that addresses come
// from, and a table of the addresses in use and their owners (a
// container, an endpoint). The tables live in one JSON file per network,
// rewritten atomically under a file lock, so several hull processes can
// allocate at once and a kill -9 at any moment loses nothing already
// allocated.
//
// Allocation is next-fit: it continues after the last address handed
// out and wraps around, so an address just released is not reused while
// others are free (a peer's ARP cache may still point at it), as Docker
// does.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hull-project/hull/internal/atomicfile"
	"github.com/hull-project/hull/internal/flock"
)

// Errors of the store; match them with errors.Is.
var (
	ErrExhausted = errors.New("no available IP addresses")
	ErrInUse     = errors.New("address already in use")
	ErrNotFound  = errors.New("no such network")
	ErrExists    = errors.New("network already exists")
	ErrOverlap   = errors.New("pool overlaps with another one on this address space")
)

// Config is a network's address plan.
type Config struct {
	// Subnet is the network's prefix, e.g. 172.18.0.0/16.
	Subnet netip.Prefix `json:"subnet"`
	// Gateway is the bridge's address; the subnet's first host address
	// if not given.
	Gateway netip.Addr `json:"gateway"`
	// Range, if valid, is the part of the subnet addresses are allocated
	// from (--ip-range); specific addresses may be anywhere in Subnet.
	Range netip.Prefix `json:"range,omitzero"`
}

// table is a network's file.
type table struct {
	Config
	// InUse maps addresses to their owners.
	InUse map[netip.Addr]string `json:"inUse"`
	// Last is the address handed out last (next-fit cursor).
	Last netip.Addr `json:"last,omitzero"`
}

// Store keeps the tables of every network under one directory.
type Store struct{ dir string }

// Open opens (creating) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open ipam store: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(network string) string { return filepath.Join(s.dir, network+".json") }

// lock takes the store's lock: allocations are quick, and one lock lets
// Create check overlaps against every network.
func (s *Store) lock() (*flock.Lock, error) { return flock.Exclusive(filepath.Join(s.dir, ".lock")) }

// Create adds a network with the address plan c (validated and
// completed: the gateway defaults to the first host address). Its subnet
// must not overlap another network's.
func (s *Store) Create(network string, c Config) (Config, error) {
	// The network package applies Docker's naming rules; here the name
	// only has to be a safe file name.
	if network == "" || network[0] == '.' || strings.ContainsAny(network, "/\x00") {
		return Config{}, fmt.Errorf("invalid network name %q", network)
	}
	c, err := c.complete()
	if err != nil {
		return Config{}, err
	}
	l, err := s.lock()
	if err != nil {
		return Config{}, err
	}
	defer l.Unlock()
	if _, err := os.Stat(s.path(network)); err == nil {
		return Config{}, fmt.Errorf("network %s: %w", network, ErrExists)
	}
	others, err := s.readAll()
	if err != nil {
		return Config{}, err
	}
	for name, t := range others {
		if t.Subnet.Overlaps(c.Subnet) {
			return Config{}, fmt.Errorf("subnet %s of network %s: %w (%s of network %s)", c.Subnet, network, ErrOverlap, t.Subnet, name)
		}
	}
	t := &table{Config: c, InUse: map[netip.Addr]string{}}
	return c, s.write(network, t, true)
}

// complete validates a plan and fills in its defaults.
func (c Config) complete() (Config, error) {
	if !c.Subnet.IsValid() {
		return c, errors.New("a subnet is required")
	}
	c.Subnet = c.Subnet.Masked()
	bits := c.Subnet.Addr().BitLen()
	if c.Subnet.Bits() > bits-2 {
		return c, fmt.Errorf("subnet %s is too small: it leaves no address for containers", c.Subnet)
	}
	if !c.Gateway.IsValid() {
		c.Gateway = c.Subnet.Addr().Next()
	}
	if !c.Subnet.Contains(c.Gateway) {
		return c, fmt.Errorf("gateway %s is not in subnet %s", c.Gateway, c.Subnet)
	}
	if c.Gateway == c.Subnet.Addr() || (c.Subnet.Addr().Is4() && c.Gateway == lastAddr(c.Subnet)) {
		return c, fmt.Errorf("gateway %s is the network or broadcast address of %s", c.Gateway, c.Subnet)
	}
	if c.Range.IsValid() {
		c.Range = c.Range.Masked()
		if c.Range.Addr().BitLen() != bits || !c.Subnet.Contains(c.Range.Addr()) || c.Range.Bits() < c.Subnet.Bits() {
			return c, fmt.Errorf("ip range %s is not within subnet %s", c.Range, c.Subnet)
		}
	}
	return c, nil
}

// lastAddr is the last address of p (IPv4's broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		n := min(host, 8)
		b[i] |= byte(1<<n - 1)
		host -= n
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Allocate gives owner an address of network: want if it is valid (and
// free), else the next free one of the range (or subnet). The network
// address, the IPv4 broadcast address and the gateway are never handed
// out.
func (s *Store) Allocate(network, owner string, want netip.Addr) (netip.Addr, error) {
	l, err := s.lock()
	if err != nil {
		return netip.Addr{}, err
	}
	defer l.Unlock()
	t, err := s.read(network)
	if err != nil {
		return netip.Addr{}, err
	}
	var a netip.Addr
	if want.IsValid() {
		if !t.Subnet.Contains(want) || t.reserved(want) {
			return netip.Addr{}, fmt.Errorf("address %s is not a usable address of network %s (%s)", want, network, t.Subnet)
		}
		if o, used := t.InUse[want]; used {
			return netip.Addr{}, fmt.Errorf("address %s of network %s: %w by %s", want, network, ErrInUse, o)
		}
		a = want
	} else if a, err = t.next(); err != nil {
		return netip.Addr{}, fmt.Errorf("network %s: %w", network, err)
	} else {
		t.Last = a
	}
	t.InUse[a] = owner
	if err := s.write(network, t, false); err != nil {
		return netip.Addr{}, err
	}
	return a, nil
}

// reserved reports the addresses never handed out.
func (t *table) reserved(a netip.Addr) bool {
	return a == t.Subnet.Addr() || a == t.Gateway || (a.Is4() && a == lastAddr(t.Subnet))
}

// next finds the next free address after Last, wrapping around once.
func (t *table) next() (netip.Addr, error) {
	pool := t.Subnet
	if t.Range.IsValid() {
		pool = t.Range
	}
	first, last := pool.Addr(), lastAddr(pool)
	start := first
	if t.Last.IsValid() && pool.Contains(t.Last) && t.Last != last {
		start = t.Last.Next()
	}
	for a, wrapped := start, false; ; {
		if _, used := t.InUse[a]; !used && !t.reserved(a) {
			return a, nil
		}
		if a == last {
			if wrapped {
				return netip.Addr{}, ErrExhausted
			}
			a, wrapped = first, true
		} else {
			a = a.Next()
		}
		if wrapped && a == start {
			return netip.Addr{}, ErrExhausted
		}
	}
}

// Release frees addr of network; releasing a free address is not an
// error (a cleanup after a crash may release twice).
func (s *Store) Release(network string, addr netip.Addr) error {
	return s.update(network, func(t *table) {
		delete(t.InUse, addr)
	})
}

// ReleaseOwner frees every address owner holds in network.
func (s *Store) ReleaseOwner(network, owner string) error {
	return s.update(network, func(t *table) {
		for a, o := range t.InUse {
			if o == owner {
				delete(t.InUse, a)
			}
		}
	})
}

func (s *Store) update(network string, fn func(*table)) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	t, err := s.read(network)
	if err != nil {
		return err
	}
	fn(t)
	return s.write(network, t, false)
}

// InUse lists the addresses in use in network and their owners, sorted.
func (s *Store) InUse(network string) ([]netip.Addr, map[netip.Addr]string, error) {
	t, err := s.read(network)
	if err != nil {
		return nil, nil, err
	}
	addrs := make([]netip.Addr, 0, len(t.InUse))
	for a := range t.InUse {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	return addrs, t.InUse, nil
}

// Networks lists the networks that have a table.
func (s *Store) Networks() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list ipam tables: %w", err)
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
			out = append(out, name)
		}
	}
	return out, nil
}

// Config returns network's address plan.
func (s *Store) Config(network string) (Config, error) {
	t, err := s.read(network)
	if err != nil {
		return Config{}, err
	}
	return t.Config, nil
}

// Delete removes network's table.
func (s *Store) Delete(network string) error {
	l, err := s.lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	if err := os.Remove(s.path(network)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("network %s: %w", network, ErrNotFound)
		}
		return fmt.Errorf("delete network %s: %w", network, err)
	}
	return nil
}

func (s *Store) read(network string) (*table, error) {
	b, err := os.ReadFile(s.path(network))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("network %s: %w", network, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read network %s: %w", network, err)
	}
	var t table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("read network %s: %w", network, err)
	}
	if t.InUse == nil {
		t.InUse = map[netip.Addr]string{}
	}
	return &t, nil
}

// readAll reads every network's table.
func (s *Store) readAll() (map[string]*table, error) {
	matches, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]*table{}
	for _, m := range matches {
		name := filepath.Base(m)
		name = name[:len(name)-len(".json")]
		t, err := s.read(name)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// write replaces a network's table; durable (fsynced) for a new network,
// not for allocations: they only matter while the containers holding
// them run, which no power loss outlives.
func (s *Store) write(network string, t *table, durable bool) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode network %s: %w", network, err)
	}
	if durable {
		return atomicfile.WriteFile(s.path(network), b, 0o600)
	}
	return atomicfile.Replace(s.path(network), b, 0o600)
}

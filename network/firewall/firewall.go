// Package firewall writes hull's NAT and filtering rules into nftables
// through netlink (github.com/google/nftables; no nft or iptables
// commands).
//
// hull owns exactly one nftables table, family ip, named "hull" (IPv4
// only). Apply rebuilds that whole table from a desired State in a single
// netlink transaction — add the table, delete it, add it again with its
// chains, set and rules — so the kernel's rules are always exactly the
// state, whether or not the table existed before, and a hull that crashed
// half way is repaired by the next Apply. Tables hull did not write are
// never touched.
//
// The rules follow Docker's model with the userland proxy off:
//
//   - nat prerouting and output jump to the chain "ports" for packets
//     addressed to a local address (fib daddr type local); "ports" holds
//     one DNAT rule per published Port. That covers traffic from other
//     hosts, from the host itself to 127.0.0.1 and to its own addresses,
//     and from containers to the host's addresses (hairpin).
//   - nat postrouting masquerades traffic leaving a network's subnet
//     through any interface but its bridge (egress; not for internal
//     networks), traffic going out a bridge with a 127.0.0.0/8 source
//     (DNATed connections to 127.0.0.1; see RouteLocalnet), and DNATed
//     traffic from a bridge's subnet going back out the same bridge
//     (hairpin, so the reply comes back from the host's address).
//   - filter forward (policy accept) keeps internal networks to
//     themselves, accepts established and related traffic and anything
//     DNATed to a published port, drops traffic between different hull
//     bridges and drops new traffic routed into a hull bridge from a
//     non-hull interface. Everything else is left alone: hull does not
//     police the host's own traffic.
//
// Every base chain of every table must accept a packet for it to pass: a
// drop in another table — for example an iptables FORWARD policy DROP
// left behind by Docker, or a host firewall's forward chain with policy
// drop — still drops hull's traffic, whatever hull's table says. Such a
// host needs its own rules to accept traffic to and from hull's bridges.
//
// With br_netfilter loaded and bridge-nf-call-iptables=1, bridged
// traffic goes through these hooks too; the rules are written to give the
// same result either way. A container reaching its own published port
// through the host's address then needs hairpin mode on its bridge port.
//
// Forwarding must be on for any of it to matter (EnableForwarding), and
// publishing to 127.0.0.1 needs route_localnet on the bridge
// (RouteLocalnet).
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/google/nftables"
)

// TableName is the name of hull's table, of family ip.
const TableName = "hull"

// Network is one hull bridge network.
type Network struct {
	// Bridge is the bridge interface name, e.g. "hull0".
	Bridge string
	// Subnet is the network's IPv4 subnet, e.g. 172.17.0.0/16.
	Subnet netip.Prefix
	// Internal is --internal: no traffic in or out of the network other
	// than among its members (and the host's own).
	Internal bool
}

// Port is a published port: traffic for HostIP:HostPort is DNATed to
// ContainerIP:ContainerPort.
type Port struct {
	// Proto is "tcp" or "udp".
	Proto string
	// HostIP is the host address the port is published on; the zero
	// Addr (or 0.0.0.0) means every host address.
	HostIP netip.Addr
	// HostPort is the published port on the host.
	HostPort uint16
	// ContainerIP is the container's address; it must be in the subnet
	// of Bridge's network.
	ContainerIP netip.Addr
	// ContainerPort is the port inside the container.
	ContainerPort uint16
	// Bridge is the bridge the container address is on; it must be one
	// of the State's Networks.
	Bridge string
}

// State is everything hull's table holds.
type State struct {
	// Networks are hull's bridge networks.
	Networks []Network
	// Ports are the published ports of all containers.
	Ports []Port
}

// Option changes where or how a function of this package works.
type Option func(*config)

type config struct {
	netns   int  // fd of a network namespace
	inNetNS bool // netns is set; otherwise the caller's namespace
}

// WithNetNS makes the function operate in the network namespace that
// the open file descriptor fd refers to (a /proc/<pid>/ns/net or a bind
// mount of one) instead of the caller's. fd must be > 0 and stay open
// for the duration of the call.
func WithNetNS(fd int) Option {
	return func(c *config) { c.netns, c.inNetNS = fd, true }
}

func newConfig(opts []Option) (config, error) {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.inNetNS && c.netns <= 0 {
		return c, fmt.Errorf("firewall: invalid network namespace fd %d", c.netns)
	}
	return c, nil
}

func (c config) conn() (*nftables.Conn, error) {
	var o []nftables.ConnOption
	if c.inNetNS {
		o = append(o, nftables.WithNetNSFd(c.netns))
	}
	conn, err := nftables.New(o...)
	if err != nil {
		return nil, fmt.Errorf("firewall: nftables netlink: %w", err)
	}
	return conn, nil
}

// Apply makes hull's table exactly st, in one netlink transaction: it
// either fully succeeds or leaves the previous rules in place. An empty
// State removes the table. Apply is idempotent; callers that compute st
// from shared data should serialize their Applys, as the last one wins.
func Apply(st State, opts ...Option) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	if err := validate(st); err != nil {
		return err
	}
	conn, err := cfg.conn()
	if err != nil {
		return err
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName}
	// Adding an existing table is not an error, so the delete that
	// follows always has a table to delete, whether or not there was one.
	conn.AddTable(table)
	conn.DelTable(table)
	if len(st.Networks) > 0 || len(st.Ports) > 0 {
		conn.AddTable(table)
		if err := build(conn, table, st); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("firewall: write table ip %s (%d networks, %d ports): %w", TableName, len(st.Networks), len(st.Ports), err)
	}
	return nil
}

// Tables lists every nftables table in the namespace as "family name"
// (e.g. "ip hull", "inet filter"), sorted. It is a read-back helper for
// diagnostics and tests.
func Tables(opts ...Option) ([]string, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	conn, err := cfg.conn()
	if err != nil {
		return nil, err
	}
	ts, err := conn.ListTables()
	if err != nil {
		return nil, fmt.Errorf("firewall: list nftables tables: %w", err)
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, familyName(t.Family)+" "+t.Name)
	}
	sort.Strings(out)
	return out, nil
}

// Installed reports whether hull's table exists in the namespace.
func Installed(opts ...Option) (bool, error) {
	ts, err := Tables(opts...)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t == "ip "+TableName {
			return true, nil
		}
	}
	return false, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family%d", f)
}

// ifNameSize is IFNAMSIZ: interface names are at most 15 bytes.
const ifNameSize = 16

func validIfName(name string) error {
	if name == "" {
		return errors.New("empty interface name")
	}
	if len(name) >= ifNameSize {
		return fmt.Errorf("interface name %q longer than %d bytes", name, ifNameSize-1)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("invalid interface name %q", name)
	}
	for _, c := range []byte(name) {
		if c == 0 || c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("invalid interface name %q", name)
		}
	}
	return nil
}

// validate checks st is something Apply can write.
func validate(st State) error {
	nets := make(map[string]Network, len(st.Networks))
	for _, n := range st.Networks {
		if err := validIfName(n.Bridge); err != nil {
			return fmt.Errorf("firewall: network bridge: %w", err)
		}
		if !n.Subnet.IsValid() || !n.Subnet.Addr().Is4() {
			return fmt.Errorf("firewall: network %s: subnet %s is not an IPv4 prefix", n.Bridge, n.Subnet)
		}
		if _, dup := nets[n.Bridge]; dup {
			return fmt.Errorf("firewall: network %s listed twice", n.Bridge)
		}
		nets[n.Bridge] = n
	}
	type key struct {
		proto string
		ip    netip.Addr
		port  uint16
	}
	seen := make(map[key]bool, len(st.Ports))
	for _, p := range st.Ports {
		if p.Proto != "tcp" && p.Proto != "udp" {
			return fmt.Errorf("firewall: port %s: protocol %q is not tcp or udp", portString(p), p.Proto)
		}
		if p.HostIP.IsValid() && !p.HostIP.Is4() {
			return fmt.Errorf("firewall: port %s: host address %s is not IPv4", portString(p), p.HostIP)
		}
		if !p.ContainerIP.Is4() {
			return fmt.Errorf("firewall: port %s: container address %s is not IPv4", portString(p), p.ContainerIP)
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return fmt.Errorf("firewall: port %s: port 0", portString(p))
		}
		n, ok := nets[p.Bridge]
		if !ok {
			return fmt.Errorf("firewall: port %s: bridge %q is not one of the networks", portString(p), p.Bridge)
		}
		if !n.Subnet.Contains(p.ContainerIP) {
			return fmt.Errorf("firewall: port %s: container address %s is not in %s's subnet %s", portString(p), p.ContainerIP, p.Bridge, n.Subnet)
		}
		k := key{p.Proto, hostIP(p), p.HostPort}
		if seen[k] {
			return fmt.Errorf("firewall: port %s/%s:%d published twice", p.Proto, hostIP(p), p.HostPort)
		}
		seen[k] = true
	}
	return nil
}

// hostIP is p's host address with "every address" as 0.0.0.0.
func hostIP(p Port) netip.Addr {
	if !p.HostIP.IsValid() {
		return netip.IPv4Unspecified()
	}
	return p.HostIP
}

func portString(p Port) string {
	return fmt.Sprintf("%s %s:%d->%s:%d", p.Proto, hostIP(p), p.HostPort, p.ContainerIP, p.ContainerPort)
}

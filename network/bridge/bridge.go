// Package bridge wires network namespaces to Linux bridges through
// netlink (github.com/vishvananda/netlink; no `ip` commands): a bridge
// per network holding the gateway address, and for each container a veth
// pair whose host end is enslaved to the bridge and whose other end
// becomes the container's eth0 with its address and default route.
package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Ensure creates the bridge name if it does not exist, gives it the
// gateway address gw (an address with its subnet's prefix length) and
// sets it up. An existing bridge keeps its other addresses.
func Ensure(name string, gw netip.Prefix, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		if mtu > 0 {
			attrs.MTU = mtu
		}
		br := &netlink.Bridge{LinkAttrs: attrs}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is a %s, not a bridge", name, l.Type())
	}
	if gw.IsValid() {
		if err := netlink.AddrReplace(l, addr(gw)); err != nil {
			return fmt.Errorf("address %s on bridge %s: %w", gw, name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

// Delete removes the bridge name; a missing bridge is not an error.
func Delete(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// Endpoint is a container's connection to a bridge.
type Endpoint struct {
	// HostName is the name of the host end of the veth pair.
	HostName string
	// NS is the path of the container's network namespace
	// (/proc/<pid>/ns/net or a bind mount of it).
	NS string
	// IfName is the name of the container end inside NS ("eth0").
	IfName string
	// Addr is the container's address with its subnet's prefix length.
	Addr netip.Prefix
	// Gateway is the default route's next hop (the bridge's address);
	// invalid for no default route (an internal network).
	Gateway netip.Addr
	// MAC is the container end's hardware address; nil lets the kernel
	// pick one.
	MAC net.HardwareAddr
	// MTU of both ends; 0 keeps the bridge's.
	MTU int
}

// Attach creates the veth pair of e with its host end enslaved to bridge
// and up, and its other end made directly inside e.NS as e.IfName (no
// move between namespaces, which costs the kernel an RCU grace period),
// where it gets e.Addr, e.MAC and the default route; lo is set up too.
// On error nothing of it is left.
func Attach(bridgeName string, e Endpoint) (err error) {
	br, err := netlink.LinkByName(bridgeName)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", bridgeName, err)
	}
	mtu := e.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	ns, err := netns.GetFromPath(e.NS)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", e.NS, err)
	}
	defer ns.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = e.HostName
	attrs.MTU = mtu
	attrs.MasterIndex = br.Attrs().Index
	attrs.Flags = net.FlagUp
	veth := &netlink.Veth{
		LinkAttrs: attrs, PeerName: e.IfName, PeerHardwareAddr: e.MAC,
		PeerNamespace: netlink.NsFd(ns), PeerMTU: uint32(mtu),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", e.HostName, err)
	}
	defer func() {
		if err != nil {
			_ = Detach(e.HostName)
		}
	}()
	// A container may reach itself through a published port: the
	// packet goes out and back in the same bridge port.
	if err := netlink.LinkSetHairpin(veth, true); err != nil {
		return fmt.Errorf("hairpin mode on %s: %w", e.HostName, err)
	}
	return inNS(ns, func(h *netlink.Handle) error { return configure(h, e) })
}

// configure sets up the container end inside its namespace.
func configure(h *netlink.Handle, e Endpoint) error {
	l, err := h.LinkByName(e.IfName)
	if err != nil {
		return fmt.Errorf("%s in the namespace: %w", e.IfName, err)
	}
	if err := h.AddrAdd(l, addr(e.Addr)); err != nil {
		return fmt.Errorf("address %s on %s: %w", e.Addr, e.IfName, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", e.IfName, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	if e.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: e.Gateway.AsSlice()}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("default route via %s: %w", e.Gateway, err)
		}
	}
	return nil
}

// inNS runs fn with a netlink handle in ns. The handle's socket is
// opened in ns by a thread that enters it and leaves it again, so the
// calling goroutine never changes namespace.
func inNS(ns netns.NsHandle, fn func(*netlink.Handle) error) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the namespace: %w", err)
	}
	defer h.Close()
	return fn(h)
}

// Detach deletes the veth pair whose host end is hostName (its peer in
// the container goes with it); a missing one is not an error.
func Detach(hostName string) error {
	l, err := netlink.LinkByName(hostName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("veth %s: %w", hostName, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete veth %s: %w", hostName, err)
	}
	return nil
}

func addr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

// LoopbackUp sets lo up in the network namespace at nsPath (a
// namespace with no other interface, --network none, still has a
// working 127.0.0.1, as in Docker).
func LoopbackUp(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	return inNS(ns, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("lo: %w", err)
		}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		return nil
	})
}

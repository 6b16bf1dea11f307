package network

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hull-project/hull/network/bridge"
	"github.com/hull-project/hull/network/firewall"
	"github.com/vishvananda/netlink"
)

// defaultPools are the subnets networks get when none is asked for, in
// Docker's order: 172.17-31.0.0/16, then 192.168.0-240.0/20.
func defaultPools() []netip.Prefix {
	var out []netip.Prefix
	for i := 17; i <= 31; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(i), 0}), 20))
	}
	return out
}

func overlapsAny(p netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if p.Overlaps(o) {
			return true
		}
	}
	return false
}

// hostRoutes lists the destinations of the host's IPv4 routes other than
// the default route, so that a new network does not take a subnet the
// host already reaches (its LAN, a VPN, another engine's bridge).
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		if bits == 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), bits).Masked())
	}
	return out, nil
}

// ensureBridge creates n's bridge if it is missing (first use, or after
// a reboot) and makes the host forward and NAT for it; it reports
// whether it had to create it.
func (s *Store) ensureBridge(n *Network) error {
	_, err := s.ensureBridgeCreated(n)
	return err
}

func (s *Store) ensureBridgeCreated(n *Network) (bool, error) {
	if l, err := netlink.LinkByName(n.Bridge); err == nil {
		if _, ok := l.(*netlink.Bridge); ok && l.Attrs().Flags&net.FlagUp != 0 {
			return false, nil
		}
	}
	gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	if err := bridge.Ensure(n.Bridge, gw, n.MTU); err != nil {
		return false, fmt.Errorf("network %s: %w", n.Name, err)
	}
	if err := firewall.RouteLocalnet(n.Bridge); err != nil {
		return true, fmt.Errorf("network %s: %w", n.Name, err)
	}
	if !n.Internal {
		if err := firewall.EnableForwarding(); err != nil {
			return true, fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return true, nil
}

func deleteBridge(name string) error { return bridge.Delete(name) }

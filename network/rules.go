package network

import (
	"github.com/hull-project/hull/network/firewall"
)

// applyFirewall rewrites hull's nftables table from the networks and the
// published ports of every sandbox. The caller holds the lock, so the
// table always matches the last state written.
func (s *Store) applyFirewall() error {
	nets, err := s.list()
	if err != nil {
		return err
	}
	sbs, err := s.sandboxes()
	if err != nil {
		return err
	}
	return firewall.Apply(firewallState(nets, sbs))
}

// firewallState is the firewall's view of the store.
func firewallState(nets []*Network, sbs []*Sandbox) firewall.State {
	var st firewall.State
	bridges := map[string]bool{}
	for _, n := range nets {
		if n.Driver == DriverBridge && n.Bridge != "" {
			st.Networks = append(st.Networks, firewall.Network{Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal})
			bridges[n.Bridge] = true
		}
	}
	for _, sb := range sbs {
		t := sb.PortTarget()
		if t == nil || !bridges[t.Bridge] {
			continue
		}
		for _, p := range sb.Ports {
			st.Ports = append(st.Ports, firewall.Port{
				Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort,
				ContainerIP: t.Addr.Addr(), ContainerPort: p.ContainerPort, Bridge: t.Bridge,
			})
		}
	}
	return st
}

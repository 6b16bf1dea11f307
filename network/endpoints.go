package network

import (
	"net"
	"sort"

	mobynetwork "github.com/moby/moby/api/types/network"
)

// Member is a container connected to a network.
type Member struct {
	ContainerID string
	Name        string
	Endpoint    Endpoint
}

// Members lists the running containers connected to network n, by name.
func (s *Store) Members(n *Network) ([]Member, error) {
	sbs, err := s.sandboxes()
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, sb := range sbs {
		if e := sb.endpoint(n.ID); e != nil {
			out = append(out, Member{ContainerID: sb.ContainerID, Name: sb.Name, Endpoint: *e})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Settings fills Docker's view of the endpoint (inspect's
// NetworkSettings.Networks entry) with its operational data.
func (e *Endpoint) Settings(es *mobynetwork.EndpointSettings) {
	es.NetworkID, es.EndpointID = e.NetworkID, e.EndpointID
	es.IPAddress, es.IPPrefixLen, es.Gateway = e.Addr.Addr(), e.Addr.Bits(), e.Gateway
	if mac, err := net.ParseMAC(e.MAC); err == nil {
		es.MacAddress = mobynetwork.HardwareAddr(mac)
	}
	es.DNSNames = e.DNSNames
}

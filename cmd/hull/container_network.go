package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/network"
	mobycontainer "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
)

// runNetwork is what run/create's network flags resolve to.
type runNetwork struct {
	// mode is the HostConfig.NetworkMode: bridge, host, none,
	// container:ID or the first user network's name.
	mode string
	// nets are the bridge networks joined, the primary first.
	nets []*network.Network
}

// validateNetworkFlags checks the network flags' syntax (before anything
// is made; names are resolved by resolveNetworks).
func validateNetworkFlags(f *runFlags) error {
	special := 0
	for _, n := range f.networks {
		switch {
		case n == "":
			return errors.New("invalid network name: empty")
		case n == "host" || n == "none" || strings.HasPrefix(n, "container:"):
			special++
		}
	}
	if special > 0 && len(f.networks) > 1 {
		return fmt.Errorf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	if len(f.links) > 0 {
		return errors.New("--link is not supported: put the containers on one user-defined network (hull network create) and they reach each other by name")
	}
	if f.ip6 != "" {
		return errors.New("--ip6: hull networks are IPv4 only")
	}
	if f.ip != "" {
		a, err := netip.ParseAddr(f.ip)
		if err != nil || !a.Is4() {
			return fmt.Errorf("invalid IPv4 address: %s", f.ip)
		}
	}
	if f.macAddress != "" {
		if _, err := net.ParseMAC(f.macAddress); err != nil {
			return fmt.Errorf("%s is not a valid mac address", f.macAddress)
		}
	}
	for _, h := range f.addHosts {
		name, addr, ok := network.ParseExtraHost(h)
		if _, err := netip.ParseAddr(addr); !ok || name == "" || (err != nil && addr != "host-gateway") {
			return fmt.Errorf("invalid argument %q for \"--add-host\" flag: bad format for add-host: %q", h, h)
		}
	}
	for _, p := range f.publish {
		if _, err := network.ParsePublish(p); err != nil {
			return err
		}
	}
	for _, p := range f.expose {
		if _, _, err := parseExpose(p); err != nil {
			return err
		}
	}
	if special > 0 && strings.HasPrefix(f.networks[0], "container:") {
		switch {
		case f.hostname != "":
			//lint:ignore ST1005 Docker's message
			return errors.New("Conflicting options: hostname and the network mode")
		case len(f.publish) > 0 || f.publishAll:
			//lint:ignore ST1005 Docker's message
			return errors.New("Conflicting options: port publishing and the container type network mode")
		case len(f.dns) > 0:
			//lint:ignore ST1005 Docker's message
			return errors.New("Conflicting options: dns and the network mode")
		case len(f.addHosts) > 0:
			//lint:ignore ST1005 Docker's message
			return errors.New("Conflicting options: custom host-to-IP mapping and the network mode")
		case f.macAddress != "":
			//lint:ignore ST1005 Docker's message
			return errors.New("Conflicting options: mac-address and the network mode")
		}
	}
	return nil
}

// parseExpose parses an --expose value: port[-port][/proto].
func parseExpose(s string) ([]mobynetwork.Port, string, error) {
	ports, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	l, h, err := network.ParsePortRange(ports)
	if err != nil || l == 0 || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return nil, "", fmt.Errorf("invalid range format for --expose: %s", s)
	}
	var out []mobynetwork.Port
	for p := int(l); p <= int(h); p++ {
		port, ok := mobynetwork.PortFrom(uint16(p), mobynetwork.IPProtocol(proto))
		if ok {
			out = append(out, port)
		}
	}
	return out, proto, nil
}

// resolveNetworks finds the networks a new container joins (bridge by
// default) and checks the options that need them.
func (c *cli) resolveNetworks(f *runFlags) (*runNetwork, error) {
	names := f.networks
	if len(names) == 0 {
		names = []string{network.DefaultName}
	}
	first := names[0]
	switch {
	case first == "host", first == "none":
		if len(f.publish) > 0 || f.publishAll {
			fmt.Fprintf(c.err, "WARNING: Published ports are discarded when using %s network mode\n", first)
		}
		if f.ip != "" || len(f.networkAliases) > 0 {
			return nil, errors.New("--ip and --network-alias need a user-defined network")
		}
		return &runNetwork{mode: first}, nil
	case strings.HasPrefix(first, "container:"):
		cs, err := c.containerStore()
		if err != nil {
			return nil, err
		}
		ref := strings.TrimPrefix(first, "container:")
		t, err := cs.Get(ref)
		if err != nil {
			return nil, err
		}
		return &runNetwork{mode: "container:" + t.ID}, nil
	}
	ns, err := c.networkStore()
	if err != nil {
		return nil, err
	}
	rn := &runNetwork{}
	for _, name := range names {
		n, err := ns.Get(name)
		if err != nil {
			return nil, err
		}
		if n.Driver != network.DriverBridge {
			return nil, fmt.Errorf("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
		}
		rn.nets = append(rn.nets, n)
	}
	primary := rn.nets[0]
	rn.mode = primary.Name
	if primary.Name == network.DefaultName {
		if f.ip != "" {
			return nil, errors.New("user specified IP address is supported on user defined networks only")
		}
		if len(f.networkAliases) > 0 {
			return nil, errors.New("network-scoped alias is supported only for containers in user defined networks")
		}
	}
	if f.ip != "" {
		a, _ := netip.ParseAddr(f.ip)
		if !primary.Subnet.Contains(a) {
			return nil, fmt.Errorf("invalid IP address %s: it is not in network %s's subnet %s", a, primary.Name, primary.Subnet)
		}
	}
	return rn, nil
}

// recordNetworks fills a new container's record with its networks and
// its HostConfig with the network mode and port bindings.
func recordNetworks(rec *container.Record, rn *runNetwork, f *runFlags) error {
	hc := rec.HostConfig
	hc.NetworkMode = mobycontainer.NetworkMode(rn.mode)
	if len(rn.nets) == 0 {
		// host, none and container: have no endpoints (Docker still
		// lists host and none).
		if rn.mode == "host" || rn.mode == "none" {
			rec.NetworkSettings = &mobycontainer.NetworkSettings{Networks: map[string]*mobynetwork.EndpointSettings{rn.mode: {}}}
		}
		return nil
	}
	rec.NetworkSettings = &mobycontainer.NetworkSettings{Networks: map[string]*mobynetwork.EndpointSettings{}}
	for i, n := range rn.nets {
		es := &mobynetwork.EndpointSettings{NetworkID: n.ID}
		if i == 0 {
			es.Aliases = f.networkAliases
			if f.ip != "" {
				a, _ := netip.ParseAddr(f.ip)
				es.IPAMConfig = &mobynetwork.EndpointIPAMConfig{IPv4Address: a}
			}
			if f.macAddress != "" {
				m, _ := net.ParseMAC(f.macAddress)
				es.MacAddress = mobynetwork.HardwareAddr(m)
			}
		}
		rec.NetworkSettings.Networks[n.Name] = es
		rec.NetworkNames = append(rec.NetworkNames, n.Name)
	}
	hc.PublishAllPorts = f.publishAll
	for _, p := range f.publish {
		reqs, err := network.ParsePublish(p)
		if err != nil {
			return err
		}
		for _, r := range reqs {
			key, _ := mobynetwork.PortFrom(r.ContainerPort, mobynetwork.IPProtocol(r.Proto))
			b := mobynetwork.PortBinding{HostIP: r.HostIP}
			switch {
			case r.HostPortFirst == 0:
			case r.HostPortFirst == r.HostPortLast:
				b.HostPort = strconv.Itoa(int(r.HostPortFirst))
			default:
				b.HostPort = fmt.Sprintf("%d-%d", r.HostPortFirst, r.HostPortLast)
			}
			if hc.PortBindings == nil {
				hc.PortBindings = mobynetwork.PortMap{}
			}
			hc.PortBindings[key] = append(hc.PortBindings[key], b)
			// A published port is exposed too.
			if rec.Config.ExposedPorts == nil {
				rec.Config.ExposedPorts = mobynetwork.PortSet{}
			}
			rec.Config.ExposedPorts[key] = struct{}{}
		}
	}
	return nil
}

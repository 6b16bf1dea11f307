package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/network"
	mobycontainer "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkConnectCommand(c *cli) *cobra.Command {
	var aliases, links, linkLocal []string
	var ip, ip6 string
	cmd := &cobra.Command{
		Use:                   "connect [OPTIONS] NETWORK CONTAINER",
		Short:                 "Connect a container to a network",
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case ip6 != "":
				return errors.New("--ip6: hull networks are IPv4 only")
			case len(links) > 0:
				return errors.New("--link is not supported: containers on one user-defined network reach each other by name")
			case len(linkLocal) > 0:
				return errors.New("--link-local-ip is not supported")
			}
			a := network.Attachment{Network: args[0], Aliases: aliases}
			if ip != "" {
				addr, err := netip.ParseAddr(ip)
				if err != nil || !addr.Is4() {
					return fmt.Errorf("invalid IPv4 address: %s", ip)
				}
				a.IP = addr
			}
			return c.networkConnect(args[1], a)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	f.StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	f.StringArrayVar(&links, "link", nil, "Add link to another container")
	f.StringArrayVar(&linkLocal, "link-local-ip", nil, "Add a link-local address for the container")
	return cmd
}

// networkConnect connects a container to one more network: recorded for
// its next starts and, if it runs, wired now.
func (c *cli) networkConnect(ref string, a network.Attachment) error {
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	ns, err := c.networkStore()
	if err != nil {
		return err
	}
	n, err := ns.Get(a.Network)
	if err != nil {
		return err
	}
	if n.Driver != network.DriverBridge {
		return fmt.Errorf("container cannot be disconnected from host network or connected to %s network", n.Name)
	}
	if n.Name == network.DefaultName && (a.IP.IsValid() || len(a.Aliases) > 0) {
		return errors.New("network-scoped aliases and user specified IP addresses are supported on user defined networks only")
	}
	if a.IP.IsValid() && !n.Subnet.Contains(a.IP) {
		return fmt.Errorf("invalid IP address %s: it is not in network %s's subnet %s", a.IP, n.Name, n.Subnet)
	}
	id, err := cs.Resolve(ref)
	if err != nil {
		return err
	}
	// Check the mode first (no lock needed), then hold the container's
	// lock while wiring and recording, so a start or stop in between
	// sees either state.
	rec, err := cs.Get(id)
	if err != nil {
		return err
	}
	switch mode := rec.NetworkKind(); mode {
	case "host", "none":
		return fmt.Errorf("container cannot be connected to network %s: it is in %s network mode", n.Name, mode)
	case "container":
		return errors.New("Container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if slices.Contains(rec.NetworkNames, n.Name) {
		return fmt.Errorf("endpoint with name %s already exists in network %s", rec.Name, n.Name)
	}
	l, err := cs.Lock(id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	rec, err = cs.Read(id)
	if err != nil {
		return err
	}
	var ep *network.Endpoint
	if rec.State.Status.Alive() && rec.State.Pid > 0 {
		if ep, err = ns.Connect(id, rec.State.Pid, a); err != nil {
			return err
		}
	}
	_, err = cs.UpdateLocked(id, func(r *container.Record) error {
		if r.NetworkSettings == nil {
			r.NetworkSettings = &mobycontainer.NetworkSettings{}
		}
		if r.NetworkSettings.Networks == nil {
			r.NetworkSettings.Networks = map[string]*mobynetwork.EndpointSettings{}
		}
		es := &mobynetwork.EndpointSettings{NetworkID: n.ID, Aliases: a.Aliases}
		if a.IP.IsValid() {
			es.IPAMConfig = &mobynetwork.EndpointIPAMConfig{IPv4Address: a.IP}
		}
		if ep != nil {
			ep.Settings(es)
		}
		r.NetworkSettings.Networks[n.Name] = es
		r.NetworkNames = append(r.NetworkNames, n.Name)
		return nil
	})
	if err != nil {
		if ep != nil {
			_ = ns.Disconnect(id, n.ID)
		}
		return err
	}
	if ep != nil {
		// The monitor starts the container's DNS server if this is its
		// first user-defined network.
		l.Unlock()
		if mc, err := c.monitorClient(); err == nil {
			if err := mc.NetworkChanged(id); err != nil {
				fmt.Fprintf(c.err, "WARNING: %v\n", err)
			}
		}
	}
	return nil
}

func newNetworkDisconnectCommand(c *cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:                   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short:                 "Disconnect a container from a network",
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.networkDisconnect(args[0], args[1], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// networkDisconnect disconnects a container from a network.
func (c *cli) networkDisconnect(netRef, ref string, force bool) error {
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	ns, err := c.networkStore()
	if err != nil {
		return err
	}
	id, err := cs.Resolve(ref)
	if err != nil {
		return err
	}
	rec, err := cs.Get(id)
	if err != nil {
		return err
	}
	name := netRef
	if n, err := ns.Get(netRef); err == nil {
		name = n.Name
	} else if !force {
		return err
	}
	if !slices.Contains(rec.NetworkNames, name) {
		if force {
			return nil
		}
		return fmt.Errorf("container %s is not connected to network %s", rec.Name, netRef)
	}
	l, err := cs.Lock(id)
	if err != nil {
		return err
	}
	defer l.Unlock()
	rec, err = cs.Read(id)
	if err != nil {
		return err
	}
	if rec.State.Status.Alive() {
		if err := ns.Disconnect(id, name); err != nil && !force {
			return err
		}
	}
	_, err = cs.UpdateLocked(id, func(r *container.Record) error {
		r.NetworkNames = slices.DeleteFunc(r.NetworkNames, func(s string) bool { return s == name })
		if r.NetworkSettings != nil {
			delete(r.NetworkSettings.Networks, name)
			if len(r.NetworkNames) == 0 {
				// Docker leaves a container without networks in
				// mode none's shape: only lo.
				r.NetworkSettings.Ports = nil
			}
		}
		if r.HostConfig != nil && string(r.HostConfig.NetworkMode) == name && len(r.NetworkNames) > 0 {
			r.HostConfig.NetworkMode = mobycontainer.NetworkMode(r.NetworkNames[0])
		}
		return nil
	})
	return err
}

// parseHW parses a MAC address, nil if it is not one.
func parseHW(s string) mobynetwork.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		return nil
	}
	return mobynetwork.HardwareAddr(m)
}

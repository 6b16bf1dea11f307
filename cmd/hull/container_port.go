package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/network"
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

// newPortCommand is `port`: a container's published ports.
func newPortCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			rec, err := cs.Get(args[0])
			if err != nil {
				return err
			}
			ports := publishedPorts(rec)
			if len(args) == 2 {
				want := args[1]
				if !strings.Contains(want, "/") {
					want += "/tcp"
				}
				key, err := mobynetwork.ParsePort(want)
				if err != nil {
					return fmt.Errorf("invalid port %q: %w", args[1], err)
				}
				bs, ok := rec.NetworkSettings.Ports[key]
				if !ok || len(bs) == 0 {
					//lint:ignore ST1005 Docker's message
					return fmt.Errorf("No public port '%s' published for %s", key, args[0])
				}
				for _, b := range bs {
					fmt.Fprintln(c.out, bindingAddr(b))
				}
				return nil
			}
			for _, p := range ports {
				for _, b := range rec.NetworkSettings.Ports[p] {
					fmt.Fprintf(c.out, "%s -> %s\n", p, bindingAddr(b))
				}
			}
			return nil
		},
	}
}

// bindingAddr is host:port of a binding.
func bindingAddr(b mobynetwork.PortBinding) string {
	ip := b.HostIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return ip.String() + ":" + b.HostPort
}

// publishedPorts are the container ports a running container publishes,
// sorted.
func publishedPorts(rec *container.Record) []mobynetwork.Port {
	if rec.NetworkSettings == nil {
		return nil
	}
	var out []mobynetwork.Port
	for p, bs := range rec.NetworkSettings.Ports {
		if len(bs) > 0 {
			out = append(out, p)
		}
	}
	sortPorts(out)
	return out
}

// exposedPorts are the container's exposed ports, sorted.
func exposedPorts(rec *container.Record) []mobynetwork.Port {
	if rec.Config == nil {
		return nil
	}
	var out []mobynetwork.Port
	for p := range rec.Config.ExposedPorts {
		out = append(out, p)
	}
	sortPorts(out)
	return out
}

func sortPorts(ps []mobynetwork.Port) {
	slices.SortFunc(ps, func(a, b mobynetwork.Port) int {
		if a.Num() != b.Num() {
			return int(a.Num()) - int(b.Num())
		}
		return strings.Compare(string(a.Proto()), string(b.Proto()))
	})
}

// matchPort reports whether one of ports matches a ps filter value:
// port[/proto] or a range from-to[/proto].
func matchPort(ports []mobynetwork.Port, v string) bool {
	spec, proto, _ := strings.Cut(v, "/")
	if proto == "" {
		proto = "tcp"
	}
	l, h, err := network.ParsePortRange(spec)
	if err != nil {
		return false
	}
	for _, p := range ports {
		if string(p.Proto()) == proto && p.Num() >= l && p.Num() <= h {
			return true
		}
	}
	return false
}

// portsText is ps's PORTS column.
func portsText(rec *container.Record) string {
	if !rec.State.Status.Alive() || rec.NetworkSettings == nil {
		return ""
	}
	var parts []string
	keys := make([]mobynetwork.Port, 0, len(rec.NetworkSettings.Ports))
	for p := range rec.NetworkSettings.Ports {
		keys = append(keys, p)
	}
	sortPorts(keys)
	for _, p := range keys {
		bs := rec.NetworkSettings.Ports[p]
		if len(bs) == 0 {
			parts = append(parts, p.String())
			continue
		}
		for _, b := range bs {
			parts = append(parts, bindingAddr(b)+"->"+p.String())
		}
	}
	return strings.Join(parts, ", ")
}

// onNetwork reports whether a container is on network v (a name or an
// ID prefix, or a network mode such as host).
func onNetwork(rec *container.Record, v string) bool {
	if rec.HostConfig != nil && string(rec.HostConfig.NetworkMode) == v {
		return true
	}
	if rec.NetworkSettings == nil {
		return false
	}
	for name, e := range rec.NetworkSettings.Networks {
		if name == v || (e != nil && e.NetworkID != "" && strings.HasPrefix(e.NetworkID, v)) {
			return true
		}
	}
	return false
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hull-project/hull/network"
	mobynetwork "github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

// newNetworkCommand is the `network` management command.
func newNetworkCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "network COMMAND",
		Short:                 "Manage networks",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(
		newNetworkCreateCommand(c),
		newNetworkListCommand(c),
		newNetworkInspectCommand(c),
		newNetworkRemoveCommand(c),
		newNetworkConnectCommand(c),
		newNetworkDisconnectCommand(c),
		newNetworkPruneCommand(c),
	)
	return cmd
}

func newNetworkCreateCommand(c *cli) *cobra.Command {
	var (
		driver, ipamDriver, scope  string
		subnets, gateways, ranges  []string
		auxAddrs                   []string
		internal, ipv6, attachable bool
		configOnly, ingress        bool
		configFrom                 string
		labels                     = &volumeLabelsFlag{}
		opts                       = &volumeOptsFlag{values: map[string]string{}}
		ipamOpts                   = &volumeOptsFlag{values: map[string]string{}}
		ipv4                       = true
	)
	cmd := &cobra.Command{
		Use:                   "create [OPTIONS] NETWORK",
		Short:                 "Create a network",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case ipv6:
				return errors.New("--ipv6: hull networks are IPv4 only")
			case !ipv4:
				return errors.New("--ipv4=false: hull networks need IPv4")
			case ipamDriver != "" && ipamDriver != "default":
				return fmt.Errorf("IPAM driver %q is not supported: hull has its own (default)", ipamDriver)
			case len(ipamOpts.values) > 0:
				return errors.New("--ipam-opt is not supported")
			case len(auxAddrs) > 0:
				return errors.New("--aux-address is not supported")
			case configOnly || configFrom != "" || ingress:
				return errors.New("--config-only, --config-from and --ingress are swarm features hull does not have")
			case scope != "" && scope != "local":
				return fmt.Errorf("scope %q is not supported: hull networks are local", scope)
			case len(subnets) > 1 || len(gateways) > 1 || len(ranges) > 1:
				return errors.New("hull networks have one IPv4 subnet: give --subnet, --gateway and --ip-range at most once")
			case len(gateways) > len(subnets) || len(ranges) > len(subnets):
				return errors.New("--gateway and --ip-range need --subnet")
			}
			o := network.CreateOptions{Name: args[0], Driver: driver, Internal: internal, Labels: labels.toMap(), Options: opts.values}
			if len(subnets) == 1 {
				p, err := netip.ParsePrefix(subnets[0])
				if err != nil {
					return fmt.Errorf("invalid subnet %s: %w", subnets[0], err)
				}
				o.Subnet = p
			}
			if len(gateways) == 1 {
				a, err := netip.ParseAddr(gateways[0])
				if err != nil {
					return fmt.Errorf("invalid gateway %s: %w", gateways[0], err)
				}
				o.Gateway = a
			}
			if len(ranges) == 1 {
				p, err := netip.ParsePrefix(ranges[0])
				if err != nil {
					return fmt.Errorf("invalid ip-range %s: %w", ranges[0], err)
				}
				o.IPRange = p
			}
			ns, err := c.networkStore()
			if err != nil {
				return err
			}
			n, err := ns.Create(o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, n.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	f.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.StringArrayVar(&auxAddrs, "aux-address", nil, "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 networking")
	f.BoolVar(&ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	f.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	f.BoolVar(&ingress, "ingress", false, "Create swarm routing-mesh network")
	f.BoolVar(&configOnly, "config-only", false, "Create a configuration only network")
	f.StringVar(&configFrom, "config-from", "", "The network from which to copy the configuration")
	f.StringVar(&ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	f.Var(ipamOpts, "ipam-opt", "Set IPAM driver specific options")
	f.StringVar(&scope, "scope", "", "Control the network's scope")
	f.VarP(opts, "opt", "o", "Set driver specific options")
	f.Var(labels, "label", "Set metadata on a network")
	return cmd
}

// networkRow is one network as `network ls` shows it.
type networkRow struct {
	n     *network.Network
	trunc bool
}

// MarshalJSON encodes the row's placeholders.
func (r *networkRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// ID is the network ID.
func (r *networkRow) ID() string {
	if r.trunc {
		return r.n.ShortID()
	}
	return r.n.ID
}

// Name is the network's name.
func (r *networkRow) Name() string { return r.n.Name }

// Driver is the network driver.
func (r *networkRow) Driver() string { return r.n.Driver }

// Scope is "local".
func (r *networkRow) Scope() string { return "local" }

// IPv4 says whether the network has IPv4 addresses.
func (r *networkRow) IPv4() string { return fmt.Sprint(r.n.Driver == network.DriverBridge) }

// IPv6 is false: hull networks are IPv4 only.
func (r *networkRow) IPv6() string { return "false" }

// Internal says whether the network is internal.
func (r *networkRow) Internal() string { return fmt.Sprint(r.n.Internal) }

// CreatedAt is the creation time.
func (r *networkRow) CreatedAt() string {
	return r.n.Created.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST")
}

// Labels are the labels as sorted "key=value" pairs.
func (r *networkRow) Labels() string {
	var out []string
	for k, v := range r.n.Labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// Label returns the value of one label.
func (r *networkRow) Label(name string) string { return r.n.Labels[name] }

var networkListHeader = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
	"IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "CreatedAt": "CREATED AT", "Labels": "LABELS",
}

func newNetworkListCommand(c *cli) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "ls [OPTIONS]",
		Aliases:               []string{"list"},
		Short:                 "List networks",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := filter.validate("driver", "id", "label", "name", "scope", "type", "dangling"); err != nil {
				return err
			}
			ns, err := c.networkStore()
			if err != nil {
				return err
			}
			nets, err := ns.List()
			if err != nil {
				return err
			}
			var used map[string]bool
			if filter.contains("dangling") {
				if used, err = c.networksInUse(); err != nil {
					return err
				}
			}
			var rows []any
			for _, n := range nets {
				if !networkMatches(filter, n, used) {
					continue
				}
				rows = append(rows, &networkRow{n: n, trunc: !noTrunc})
			}
			if format == "" || format == tableFormatKey {
				format = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
				if quiet {
					format = "{{.ID}}"
				}
			}
			return formatter{out: c.out, format: format, header: networkListHeader}.write(rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&format, "format", "", formatHelp)
	f.VarP(filter, "filter", "f", `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

// networkMatches applies ls/prune filters to a network.
func networkMatches(f *filterArgs, n *network.Network, used map[string]bool) bool {
	if !matchAny(f, "driver", func(v string) bool { return v == n.Driver }) ||
		!matchAny(f, "id", func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
		!matchAny(f, "name", func(v string) bool { return strings.Contains(n.Name, v) }) ||
		!matchAny(f, "scope", func(v string) bool { return v == "local" }) ||
		!matchAny(f, "type", func(v string) bool {
			return (v == "builtin" && n.Predefined()) || (v == "custom" && !n.Predefined())
		}) {
		return false
	}
	if f.contains("label") && !f.matchKVList("label", n.Labels) {
		return false
	}
	if f.contains("dangling") {
		d, err := f.boolOr("dangling", false)
		if err != nil || n.Predefined() || used[n.Name] == d {
			return false
		}
	}
	return true
}

// networksInUse are the names of the networks some container (running
// or not) is connected to.
func (c *cli) networksInUse() (map[string]bool, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	recs, err := cs.List()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range recs {
		for _, n := range r.NetworkNames {
			used[n] = true
		}
	}
	return used, nil
}

func newNetworkInspectCommand(c *cli) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:                   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short:                 "Display detailed information on one or more networks",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := newInspectOutput(c.out, format)
			if err != nil {
				return err
			}
			ns, err := c.networkStore()
			if err != nil {
				return err
			}
			if _, err := ns.Sweep(); err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				n, err := ns.Get(ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				data, err := networkInspect(ns, n)
				if err == nil {
					var raw []byte
					if raw, err = json.Marshal(data); err == nil {
						err = o.add(data, raw)
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := o.flush(); err != nil {
				errs = append(errs, err)
			}
			return withStatus(1, errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

// networkInspect is Docker's network inspect response.
func networkInspect(ns *network.Store, n *network.Network) (*mobynetwork.Inspect, error) {
	out := &mobynetwork.Inspect{
		Network: mobynetwork.Network{
			Name: n.Name, ID: n.ID, Scope: "local", Driver: n.Driver,
			EnableIPv4: n.Driver == network.DriverBridge, Internal: n.Internal,
			IPAM:    mobynetwork.IPAM{Driver: "default", Options: map[string]string{}, Config: []mobynetwork.IPAMConfig{}},
			Options: map[string]string{}, Labels: map[string]string{},
		},
		Containers: map[string]mobynetwork.EndpointResource{},
	}
	out.Created = n.Created
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, mobynetwork.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway, IPRange: n.IPRange})
	}
	for k, v := range n.Options {
		out.Options[k] = v
	}
	if n.Bridge != "" {
		out.Options["com.docker.network.bridge.name"] = n.Bridge
	}
	for k, v := range n.Labels {
		out.Labels[k] = v
	}
	members, err := ns.Members(n)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		out.Containers[m.ContainerID] = mobynetwork.EndpointResource{
			Name: m.Name, EndpointID: m.Endpoint.EndpointID, MacAddress: parseHW(m.Endpoint.MAC),
			IPv4Address: m.Endpoint.Addr,
		}
	}
	return out, nil
}

func newNetworkRemoveCommand(c *cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:                   "rm NETWORK [NETWORK...]",
		Aliases:               []string{"remove"},
		Short:                 "Remove one or more networks",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := c.networkStore()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if _, err := ns.Remove(ref); err != nil {
					if force && errors.Is(err, network.ErrNotFound) {
						continue
					}
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.out, ref)
			}
			return withStatus(1, errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkPruneCommand(c *cli) *cobra.Command {
	var force bool
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "prune [OPTIONS]",
		Short:                 "Remove all unused networks",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := filter.validate("label", "label!", "until"); err != nil {
				return err
			}
			until, err := filter.untilTime(time.Now())
			if err != nil {
				return err
			}
			if !force && !confirm(c, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?") {
				return nil
			}
			used, err := c.networksInUse()
			if err != nil {
				return err
			}
			ns, err := c.networkStore()
			if err != nil {
				return err
			}
			nets, err := ns.List()
			if err != nil {
				return err
			}
			var deleted []string
			for _, n := range nets {
				if n.Predefined() || used[n.Name] || !filter.matchKVList("label", n.Labels) ||
					(filter.contains("label!") && filter.matchKVList("label!", n.Labels)) ||
					(!until.IsZero() && !n.Created.Before(until)) {
					continue
				}
				if _, err := ns.Remove(n.ID); err != nil {
					continue // connected meanwhile
				}
				deleted = append(deleted, n.Name)
			}
			if len(deleted) > 0 {
				fmt.Fprintln(c.out, "Deleted Networks:")
				for _, d := range deleted {
					fmt.Fprintln(c.out, d)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

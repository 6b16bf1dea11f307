package monitor

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/dockermac"
	"github.com/hull-project/hull/network"
	"github.com/hull-project/hull/network/bridge"
	"github.com/hull-project/hull/network/dns"
	mobycontainer "github.com/moby/moby/api/types/container"
	mobynetwork "github.com/moby/moby/api/types/network"
)

// netRun is what one run of a container holds of the network: its
// sandbox, the reserved host ports and the embedded DNS server.
type netRun struct {
	sb  *network.Sandbox
	res *network.Reservation
	dns *dns.Server
}

// allocateNetwork reserves a bridge-mode container's addresses and
// ports; nil for other modes.
func (s *Server) allocateNetwork(rec *container.Record) (*netRun, error) {
	if rec.NetworkKind() != "bridge" || s.cfg.Networks == nil {
		return nil, nil
	}
	req := network.Request{ContainerID: rec.ID, Name: rec.Name, Hostname: rec.Spec.Hostname}
	for _, name := range rec.NetworkNames {
		a := network.Attachment{Network: name}
		if es := rec.NetworkSettings.Networks[name]; es != nil {
			a.Aliases = es.Aliases
			if es.IPAMConfig != nil {
				a.IP = es.IPAMConfig.IPv4Address
			}
			if len(es.MacAddress) > 0 && !dockermac.Generated(es.MacAddress, es.IPAddress) {
				a.MAC = net.HardwareAddr(es.MacAddress)
			}
		}
		req.Networks = append(req.Networks, a)
	}
	ports, err := portRequests(rec)
	if err != nil {
		return nil, err
	}
	req.Ports = ports
	sb, res, err := s.cfg.Networks.Allocate(req)
	if err != nil {
		return nil, err
	}
	return &netRun{sb: sb, res: res}, nil
}

// portRequests turns the container's -p bindings and -P into the ports
// to publish.
func portRequests(rec *container.Record) ([]network.PortRequest, error) {
	hc := rec.HostConfig
	if hc == nil {
		return nil, nil
	}
	var out []network.PortRequest
	seen := map[mobynetwork.Port]bool{}
	keys := make([]mobynetwork.Port, 0, len(hc.PortBindings))
	for p := range hc.PortBindings {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, func(a, b mobynetwork.Port) int { return strings.Compare(a.String(), b.String()) })
	for _, p := range keys {
		seen[p] = true
		for _, b := range hc.PortBindings[p] {
			pr := network.PortRequest{Proto: string(p.Proto()), HostIP: b.HostIP.Unmap(), ContainerPort: p.Num()}
			if pr.HostIP.IsUnspecified() {
				pr.HostIP = netip.Addr{} // every address
			}
			if b.HostPort != "" {
				first, last, err := network.ParsePortRange(b.HostPort)
				if err != nil {
					return nil, fmt.Errorf("invalid host port %q: %w", b.HostPort, err)
				}
				pr.HostPortFirst, pr.HostPortLast = first, last
			}
			out = append(out, pr)
		}
	}
	if hc.PublishAllPorts && rec.Config != nil {
		var exposed []mobynetwork.Port
		for p := range rec.Config.ExposedPorts {
			if !seen[p] {
				exposed = append(exposed, p)
			}
		}
		slices.SortFunc(exposed, func(a, b mobynetwork.Port) int { return strings.Compare(a.String(), b.String()) })
		for _, p := range exposed {
			out = append(out, network.PortRequest{Proto: string(p.Proto()), ContainerPort: p.Num()})
		}
	}
	return out, nil
}

// wireNetwork connects the sandbox to the created container whose init
// is pid, and starts its DNS server on user-defined networks.
func (s *Server) wireNetwork(nr *netRun, rec *container.Record, pid int) error {
	if nr == nil {
		if rec.NetworkKind() == "none" {
			return bridge.LoopbackUp("/proc/" + strconv.Itoa(pid) + "/ns/net")
		}
		return nil
	}
	if err := s.cfg.Networks.Wire(nr.sb, pid); err != nil {
		return err
	}
	if !nr.sb.DNS() {
		return nil
	}
	return s.startDNS(nr, rec, pid)
}

// startDNS starts the container's embedded DNS server at 127.0.0.11:53
// in its namespace.
func (s *Server) startDNS(nr *netRun, rec *container.Record, pid int) error {
	udp, tcp, err := dns.ListenInNetns("/proc/"+strconv.Itoa(pid)+"/ns/net", "127.0.0.11:53")
	if err != nil {
		return fmt.Errorf("embedded DNS server: %w", err)
	}
	upstreams := hostUpstreams
	if hc := rec.HostConfig; hc != nil && len(hc.DNS) > 0 {
		var fixed []string
		for _, a := range hc.DNS {
			fixed = append(fixed, a.String())
		}
		upstreams = func() []string { return fixed }
	}
	if nr.sb.Internal() {
		// Nothing leaves an internal network, names included.
		upstreams = func() []string { return nil }
	}
	srv := dns.New(s.cfg.Networks.Resolver(rec.ID), upstreams)
	nr.dns = srv
	go func() {
		if err := srv.Serve(udp, tcp); err != nil {
			s.log.Printf("dns of %s: %v", rec.ShortID(), err)
		}
	}()
	return nil
}

// networkChanged follows a network connect or disconnect of the running
// container: the first user-defined network brings the embedded DNS
// server and a resolv.conf pointing at it (rewritten in place: it is
// bind-mounted), as Docker does.
func (sv *supervisor) networkChanged() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	nr, pid := sv.net, sv.pidNum
	if nr == nil || pid == 0 {
		return nil
	}
	sb, err := sv.srv.cfg.Networks.Sandbox(sv.id)
	if err != nil {
		return nil // released meanwhile
	}
	nr.sb = sb
	if !sb.DNS() || nr.dns != nil {
		return nil
	}
	store := sv.srv.cfg.Containers
	rec, err := store.Read(sv.id)
	if err != nil {
		return err
	}
	if err := sv.srv.startDNS(nr, rec, pid); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(store.Dir(sv.id), "resolv.conf"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(containerResolvConf(rec, nr))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hostUpstreams are the host's name servers, read at each forwarded
// query so a changed /etc/resolv.conf is followed.
func hostUpstreams() []string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	return dns.Upstreams(b)
}

// releaseNetwork undoes allocateNetwork and wireNetwork.
func (s *Server) releaseNetwork(nr *netRun, id string) {
	if nr == nil {
		return
	}
	if nr.dns != nil {
		_ = nr.dns.Close()
	}
	nr.res.Close()
	if err := s.cfg.Networks.Release(id); err != nil {
		s.log.Printf("%v", err)
	}
}

// recordNetwork fills a running container's record with its addresses
// and published ports.
func recordNetwork(r *container.Record, nr *netRun) {
	if nr == nil {
		return
	}
	if r.NetworkSettings == nil {
		r.NetworkSettings = &mobycontainer.NetworkSettings{}
	}
	ns := r.NetworkSettings
	if ns.Networks == nil {
		ns.Networks = map[string]*mobynetwork.EndpointSettings{}
	}
	ns.SandboxID = nr.sb.ContainerID
	for _, e := range nr.sb.Endpoints {
		es := ns.Networks[e.NetworkName]
		if es == nil {
			es = &mobynetwork.EndpointSettings{}
			ns.Networks[e.NetworkName] = es
		}
		e.Settings(es)
	}
	ns.Ports = mobynetwork.PortMap{}
	for _, p := range nr.sb.Ports {
		key, ok := mobynetwork.PortFrom(p.ContainerPort, mobynetwork.IPProtocol(p.Proto))
		if !ok {
			continue
		}
		b := mobynetwork.PortBinding{HostPort: strconv.Itoa(int(p.HostPort))}
		b.HostIP = p.HostIP
		if !b.HostIP.IsValid() {
			b.HostIP = netip.IPv4Unspecified()
		}
		ns.Ports[key] = append(ns.Ports[key], b)
	}
	if r.Config != nil {
		for p := range r.Config.ExposedPorts {
			if _, ok := ns.Ports[p]; !ok {
				ns.Ports[p] = nil
			}
		}
	}
}

// errNoNetworkTarget is prepare's error for container:ID whose target
// does not run.
var errNoNetworkTarget = errors.New("cannot join network namespace of a non running container")

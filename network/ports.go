package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hull-project/hull/internal/procstat"
	"golang.org/x/sys/unix"
)

// PortRequest is one container port to publish (a -p argument may give
// several: ranges).
type PortRequest struct {
	Proto string // "tcp" or "udp"
	// HostIP is the host address to publish on; the zero Addr is every
	// address.
	HostIP netip.Addr
	// HostPortFirst..HostPortLast is the range of host ports any one of
	// which will do; 0 for any free port.
	HostPortFirst, HostPortLast uint16
	ContainerPort               uint16
}

// Port is a published port.
type Port struct {
	Proto         string     `json:"proto"`
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"`
	ContainerPort uint16     `json:"containerPort"`
}

// HostAddr is the host address as Docker prints it (0.0.0.0 for all).
func (p Port) HostAddr() string {
	if !p.HostIP.IsValid() {
		return "0.0.0.0"
	}
	return p.HostIP.String()
}

// String is Docker's form, 0.0.0.0:8080->80/tcp.
func (p Port) String() string {
	return fmt.Sprintf("%s:%d->%d/%s", p.HostAddr(), p.HostPort, p.ContainerPort, p.Proto)
}

// ParsePublish parses a -p/--publish argument:
// [ip:][hostPort[-hostPort]:]containerPort[-containerPort][/proto].
func ParsePublish(s string) ([]PortRequest, error) {
	rest, proto := s, "tcp"
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		rest, proto = s[:i], strings.ToLower(s[i+1:])
	}
	switch proto {
	case "tcp", "udp":
	case "sctp":
		return nil, fmt.Errorf("invalid publish %q: hull does not publish sctp ports", s)
	default:
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	var ipPart, hostPart, ctrPart string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return nil, fmt.Errorf("invalid publish %q: unclosed '['", s)
		}
		ipPart = rest[1:end]
		after, ok := strings.CutPrefix(rest[end+1:], ":")
		if !ok {
			return nil, fmt.Errorf("invalid publish %q", s)
		}
		hostPart, ctrPart, ok = strings.Cut(after, ":")
		if !ok {
			return nil, fmt.Errorf("invalid publish %q: want [ip]:hostPort:containerPort", s)
		}
	} else {
		parts := strings.Split(rest, ":")
		switch len(parts) {
		case 1:
			ctrPart = parts[0]
		case 2:
			hostPart, ctrPart = parts[0], parts[1]
		case 3:
			ipPart, hostPart, ctrPart = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid publish %q: too many colons", s)
		}
	}
	var ip netip.Addr
	if ipPart != "" {
		a, err := netip.ParseAddr(ipPart)
		if err != nil {
			return nil, fmt.Errorf("invalid IP address: %s", ipPart)
		}
		a = a.Unmap()
		if a.Is6() {
			if !a.IsUnspecified() {
				return nil, fmt.Errorf("invalid publish %q: hull publishes on IPv4 addresses only", s)
			}
			a = netip.Addr{} // [::] means every address
		} else if a.IsUnspecified() {
			a = netip.Addr{}
		}
		ip = a
	}
	c1, c2, err := ParsePortRange(ctrPart)
	if err != nil || c1 == 0 {
		return nil, fmt.Errorf("invalid containerPort: %s", ctrPart)
	}
	var h1, h2 uint16
	if hostPart != "" {
		if h1, h2, err = ParsePortRange(hostPart); err != nil || h1 == 0 {
			return nil, fmt.Errorf("invalid hostPort: %s", hostPart)
		}
	}
	n := int(c2 - c1)
	var out []PortRequest
	switch {
	case n == 0:
		out = append(out, PortRequest{Proto: proto, HostIP: ip, HostPortFirst: h1, HostPortLast: h2, ContainerPort: c1})
	case h1 == 0:
		for p := int(c1); p <= int(c2); p++ {
			out = append(out, PortRequest{Proto: proto, HostIP: ip, ContainerPort: uint16(p)})
		}
	case int(h2-h1) == n:
		for i := 0; i <= n; i++ {
			hp := h1 + uint16(i)
			out = append(out, PortRequest{Proto: proto, HostIP: ip, HostPortFirst: hp, HostPortLast: hp, ContainerPort: c1 + uint16(i)})
		}
	default:
		return nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctrPart, hostPart)
	}
	return out, nil
}

// ParsePortRange parses "80" or "8000-8010" into its first and last
// ports.
func ParsePortRange(s string) (uint16, uint16, error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	hi := lo
	if isRange {
		if hi, err = strconv.ParseUint(b, 10, 16); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, errors.New("empty range")
		}
	}
	return uint16(lo), uint16(hi), nil
}

// Reservation keeps published host ports bound (without listening) so
// that no other program on the host can take them while the container
// runs; the traffic itself never reaches these sockets (it is NATed to
// the container before socket lookup).
type Reservation struct {
	fds []int
	// Ports are the ports reserved, in request order.
	Ports []Port
}

// Close releases the ports.
func (r *Reservation) Close() {
	if r == nil {
		return
	}
	for _, fd := range r.fds {
		_ = unix.Close(fd)
	}
	r.fds = nil
}

// reservePorts binds every requested port, on defaultIP when the
// request names no address. The caller holds the lock.
func (s *Store) reservePorts(req Request, defaultIP netip.Addr) (*Reservation, error) {
	sbs, err := s.sandboxes()
	if err != nil {
		return nil, err
	}
	var taken []Port
	for _, sb := range sbs {
		if sb.ContainerID == req.ContainerID || len(sb.Ports) == 0 {
			continue
		}
		if !procstat.Alive(sb.Pid, sb.StartTime) {
			if err := s.release(sb.ContainerID); err != nil {
				return nil, err
			}
			continue
		}
		taken = append(taken, sb.Ports...)
	}
	clash := func(p Port) bool {
		for _, t := range taken {
			if t.Proto == p.Proto && t.HostPort == p.HostPort && (!t.HostIP.IsValid() || !p.HostIP.IsValid() || t.HostIP == p.HostIP) {
				return true
			}
		}
		return false
	}
	r := &Reservation{}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	for _, pr := range req.Ports {
		p := Port{Proto: pr.Proto, HostIP: pr.HostIP, ContainerPort: pr.ContainerPort}
		if !p.HostIP.IsValid() {
			p.HostIP = defaultIP
		}
		if pr.HostPortFirst == 0 {
			// Any free port: the kernel picks one from its ephemeral
			// range; one held by an orphaned container's rules is
			// kept bound (so it is not picked again) and skipped.
			var spare []int
			for tries := 0; ; tries++ {
				fd, port, err := bindPort(p.Proto, p.HostIP, 0)
				if err != nil {
					closeAll(spare)
					return nil, fmt.Errorf("publish %s/%s: no free port: %w", p.HostAddr(), p.Proto, err)
				}
				p.HostPort = port
				if !clash(p) || tries > 100 {
					r.fds = append(r.fds, fd)
					break
				}
				spare = append(spare, fd)
			}
			closeAll(spare)
		} else {
			var lastErr error
			for hp := int(pr.HostPortFirst); hp <= int(pr.HostPortLast); hp++ {
				p.HostPort = uint16(hp)
				if clash(p) {
					//lint:ignore ST1005 Docker's message
					lastErr = fmt.Errorf("Bind for %s:%d failed: port is already allocated", p.HostAddr(), hp)
					continue
				}
				fd, _, err := bindPort(p.Proto, p.HostIP, p.HostPort)
				if err != nil {
					lastErr = fmt.Errorf("publish %s:%d/%s: %w", p.HostAddr(), hp, p.Proto, err)
					if errors.Is(err, unix.EADDRINUSE) {
						lastErr = fmt.Errorf("publish %s:%d/%s: the port is in use by another program on the host (address already in use)", p.HostAddr(), hp, p.Proto)
					}
					continue
				}
				r.fds = append(r.fds, fd)
				lastErr = nil
				break
			}
			if lastErr != nil {
				return nil, lastErr
			}
		}
		r.Ports = append(r.Ports, p)
		taken = append(taken, p)
	}
	ok = true
	return r, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// bindPort binds (without listening) a socket to ip:port and returns it
// with the port bound (the kernel's pick for port 0). No SO_REUSEADDR:
// the point is to conflict with everyone else.
func bindPort(proto string, ip netip.Addr, port uint16) (int, uint16, error) {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	sa := &unix.SockaddrInet4{Port: int(port)}
	if ip.IsValid() {
		sa.Addr = ip.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return -1, 0, fmt.Errorf("%s is not an address of this host: %w", ip, err)
		}
		return -1, 0, err
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return -1, 0, err
	}
	return fd, uint16(got.(*unix.SockaddrInet4).Port), nil
}

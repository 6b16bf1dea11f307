package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// forwardTimeout bounds one exchange with one upstream.
const forwardTimeout = 2 * time.Second

// forward sends q to the upstreams in turn, from the calling process's
// network namespace, and returns the first good reply: over TCP when the
// client asked over TCP, else over UDP, retried over TCP when the reply is
// truncated. Upstreams that fail, time out, or answer SERVFAIL or REFUSED
// are skipped; when none answers the reply is SERVFAIL (a truncated UDP
// reply whose TCP retry failed is returned instead, when there is one, so
// that the client retries over TCP itself).
func (s *Server) forward(ctx context.Context, q *mdns.Msg, tcp bool) *mdns.Msg {
	var ups []string
	if s.upstreams != nil {
		ups = s.upstreams()
	}
	if len(ups) == 0 {
		return servfail(q)
	}
	select {
	case s.fwdSem <- struct{}{}:
		defer func() { <-s.fwdSem }()
	default:
		return servfail(q) // too many in flight
	}
	fq := q.Copy()
	fq.Id = mdns.Id() // a fresh ID per forward; the client's is put back
	var fallback *mdns.Msg
	for _, u := range ups {
		if ctx.Err() != nil {
			break
		}
		ap, ok := parseUpstream(u)
		if !ok || s.isLocal(ap) { // never forward to ourselves
			continue
		}
		addr := ap.String()
		network := "udp"
		if tcp {
			network = "tcp"
		}
		r, err := s.ask(ctx, network, addr, fq)
		if err != nil {
			continue
		}
		if r.Truncated && network == "udp" {
			full, err := s.ask(ctx, "tcp", addr, fq)
			if err != nil {
				if fallback == nil {
					fallback = r
				}
				continue
			}
			r = full
		}
		if r.Rcode == mdns.RcodeServerFailure || r.Rcode == mdns.RcodeRefused {
			continue
		}
		return r
	}
	if fallback != nil {
		return fallback
	}
	return servfail(q)
}

// ask is one exchange of q with the upstream addr, bounded by
// forwardTimeout, whose reply must answer q's question.
func (s *Server) ask(ctx context.Context, network, addr string, q *mdns.Msg) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	r, err := s.exchange(ctx, network, addr, q)
	if err != nil {
		return nil, err
	}
	if r == nil || !answers(q, r) {
		return nil, fmt.Errorf("dns: %s upstream %s: reply does not answer the query", network, addr)
	}
	return r, nil
}

// answers reports whether r is a reply to q: a response with q's ID
// and q's question (an error reply may leave the question out).
func answers(q, r *mdns.Msg) bool {
	if !r.Response || r.Id != q.Id {
		return false
	}
	if len(r.Question) == 0 {
		return r.Rcode != mdns.RcodeSuccess
	}
	if len(r.Question) != 1 {
		return false
	}
	a, b := q.Question[0], r.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// exchange sends m to addr over network ("udp" or "tcp") on a new socket
// and reads its reply; ctx's deadline and cancellation end it.
func exchange(ctx context.Context, network, addr string, m *mdns.Msg) (*mdns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("dns: dial %s upstream: %w", network, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	// Cancellation (Close) unblocks the read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &mdns.Conn{Conn: c, UDPSize: maxMsgLen}
	if err := co.WriteMsg(m); err != nil {
		return nil, fmt.Errorf("dns: send to %s upstream %s: %w", network, addr, err)
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, fmt.Errorf("dns: read from %s upstream %s: %w", network, addr, err)
		}
		if r.Id == m.Id {
			return r, nil
		}
		if network != "udp" {
			return nil, fmt.Errorf("dns: %s upstream %s: %w", network, addr, mdns.ErrId)
		}
		// UDP: a stray datagram; keep waiting for ours until the deadline.
	}
}

// parseUpstream parses an upstream entry: "ip", "ip:port", "[ipv6]" or
// "[ipv6]:port"; the port defaults to 53.
func parseUpstream(u string) (netip.AddrPort, bool) {
	u = strings.TrimSpace(u)
	if ap, err := netip.ParseAddrPort(u); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if inner, ok := strings.CutPrefix(u, "["); ok {
		u, ok = strings.CutSuffix(inner, "]")
		if !ok {
			return netip.AddrPort{}, false
		}
	}
	a, err := netip.ParseAddr(u)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), 53), true
}

// Upstreams parses resolv.conf content and returns its nameservers ("ip"
// strings), in order. Comments (from '#' or ';' to the end of the line)
// and entries that are not IP addresses are ignored.
func Upstreams(resolvConf []byte) []string {
	var out []string
	for _, line := range strings.Split(string(resolvConf), "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		out = append(out, a.String())
	}
	return out
}

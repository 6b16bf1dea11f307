// Package dns is the embedded DNS server of user-defined networks, like
// Docker's resolver at 127.0.0.11: each container on such a network gets a
// server listening on 127.0.0.11:53 (UDP and TCP) inside its own network
// namespace. The sockets are opened inside the container's namespace by
// ListenInNetns, but served by goroutines of the calling (host-side)
// process, so that names unknown to the container's networks are forwarded
// to the upstream servers from the host's network namespace, where a host
// resolver such as 127.0.0.53 is reachable.
//
// Names of containers on the same networks (a Resolver) are answered
// locally and authoritatively; everything else is forwarded. Messages are
// parsed and built with github.com/miekg/dns; the serving loops are this
// package's own, so that every goroutine is bounded and ends on Close, and
// so that the whole per-message path is one function from query bytes to
// reply bytes.
package dns

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Limits that keep one container from exhausting the process serving it.
const (
	// maxForwards caps the forwarded queries in flight (Docker's number);
	// a query past it is answered SERVFAIL at once.
	maxForwards = 100
	// maxUDPHandlers caps the UDP queries being handled at once; a packet
	// past it is dropped (the client retries).
	maxUDPHandlers = 256
	// maxTCPConns caps the TCP connections served at once; a connection
	// past it is closed at once.
	maxTCPConns = 64
	// tcpIdleTimeout is how long a TCP connection may wait for its next
	// query (RFC 7766 suggests tens of seconds at most).
	tcpIdleTimeout = 10 * time.Second
	// tcpWriteTimeout bounds writing one reply on a TCP connection.
	tcpWriteTimeout = 5 * time.Second
	// udpWriteTimeout bounds writing one reply on the UDP socket.
	udpWriteTimeout = 2 * time.Second
)

// ErrServerClosed is returned by Serve when the server was already closed.
var ErrServerClosed = errors.New("dns server closed")

// Resolver answers the names local to one container's networks.
// Implementations must be safe for concurrent use.
type Resolver interface {
	// LookupA returns the IPv4 addresses for name (no trailing dot,
	// lowercase), and whether the name is known locally at all.
	LookupA(name string) (addrs []netip.Addr, known bool)
	// LookupPTR returns the names for a local address (for reverse
	// lookups), empty if unknown.
	LookupPTR(addr netip.Addr) []string
}

// Server is a DNS server answering one container's local names and
// forwarding the rest. Its zero value is not usable: make one with New.
// It is safe for concurrent use.
type Server struct {
	resolver  Resolver
	upstreams func() []string

	// exchange sends one query to one upstream; a field so that tests
	// (the fuzz target) can answer without a network.
	exchange func(ctx context.Context, network, addr string, m *mdns.Msg) (*mdns.Msg, error)

	ctx    context.Context
	cancel context.CancelFunc

	fwdSem chan struct{} // forwarded queries in flight
	udpSem chan struct{} // UDP handlers running
	tcpSem chan struct{} // TCP connections served

	mu     sync.Mutex
	closed bool
	local  []netip.AddrPort // the addresses served on: never forwarded to
	wg     sync.WaitGroup   // every goroutine started by Serve
}

// New returns a server answering from r and forwarding other names to
// upstreams(), called per forwarded query (so a changed host resolv.conf is
// picked up); upstream entries are "ip" or "ip:port" (IPv6 in brackets
// with port), port 53 when none is given. A nil r knows no names; a nil
// upstreams forwards nowhere (every forwarded query gets SERVFAIL).
func New(r Resolver, upstreams func() []string) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		resolver:  r,
		upstreams: upstreams,
		exchange:  exchange,
		ctx:       ctx,
		cancel:    cancel,
		fwdSem:    make(chan struct{}, maxForwards),
		udpSem:    make(chan struct{}, maxUDPHandlers),
		tcpSem:    make(chan struct{}, maxTCPConns),
	}
}

// Serve serves DNS on the given UDP conn and TCP listener until Close;
// either may be nil. It blocks until both are done with: it returns nil
// when Close ended them, or the error of a socket that failed (was closed)
// otherwise. Serve takes ownership of udp and tcp: they are closed when it
// returns. It may be called more than once (e.g. for several addresses);
// after Close it closes its arguments and returns ErrServerClosed.
func (s *Server) Serve(udp net.PacketConn, tcp net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
		return ErrServerClosed
	}
	if udp != nil {
		if ap, ok := addrPort(udp.LocalAddr()); ok {
			s.local = append(s.local, ap)
		}
	}
	if tcp != nil {
		if ap, ok := addrPort(tcp.Addr()); ok {
			s.local = append(s.local, ap)
		}
	}
	s.wg.Add(1) // under mu: Close cannot be waiting yet
	s.mu.Unlock()
	defer s.wg.Done()

	errs := make(chan error, 2)
	n := 0
	if udp != nil {
		n++
		stop := context.AfterFunc(s.ctx, func() { udp.Close() })
		defer stop()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer udp.Close()
			errs <- s.serveUDP(udp)
		}()
	}
	if tcp != nil {
		n++
		stop := context.AfterFunc(s.ctx, func() { tcp.Close() })
		defer stop()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer tcp.Close()
			errs <- s.serveTCP(tcp)
		}()
	}
	var err error
	for range n {
		err = errors.Join(err, <-errs)
	}
	return err
}

// Close stops the server: it closes every socket given to Serve and every
// TCP connection, cancels the forwarded queries in flight, and waits until
// every goroutine the server started has ended. It is idempotent and
// always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// isLocal reports whether ap is an address the server listens on.
func (s *Server) isLocal(ap netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.local {
		if l == ap {
			return true
		}
	}
	return false
}

// addrPort converts a socket address to a netip.AddrPort.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		if a == nil {
			return ap, false
		}
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// closing reports whether Close has been called, so that a socket error
// is the server's own doing.
func (s *Server) closing() bool { return s.ctx.Err() != nil }

// backoff sleeps before retrying after a transient socket error; it
// returns false when the server closes meanwhile.
func (s *Server) backoff(d *time.Duration) bool {
	if *d == 0 {
		*d = 5 * time.Millisecond
	} else if *d *= 2; *d > time.Second {
		*d = time.Second
	}
	t := time.NewTimer(*d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// serveUDP reads queries from pc and answers each on its own goroutine,
// at most maxUDPHandlers at a time.
func (s *Server) serveUDP(pc net.PacketConn) error {
	buf := make([]byte, 65535)
	var delay time.Duration
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if s.closing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("dns: udp socket %s: %w", pc.LocalAddr(), err)
			}
			if !s.backoff(&delay) {
				return nil
			}
			continue
		}
		delay = 0
		if n < headerLen {
			continue
		}
		select {
		case s.udpSem <- struct{}{}:
		default:
			continue // overloaded: drop, the client retries
		}
		q := bytes.Clone(buf[:n])
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.udpSem }()
			reply := s.safeRespond(q, false)
			if reply == nil {
				return
			}
			_ = pc.SetWriteDeadline(time.Now().Add(udpWriteTimeout))
			_, _ = pc.WriteTo(reply, from)
		}()
	}
}

// serveTCP accepts connections on ln and serves each on its own goroutine,
// at most maxTCPConns at a time.
func (s *Server) serveTCP(ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("dns: tcp listener %s: %w", ln.Addr(), err)
			}
			if !s.backoff(&delay) { // e.g. EMFILE: do not spin
				return nil
			}
			continue
		}
		delay = 0
		select {
		case s.tcpSem <- struct{}{}:
		default:
			c.Close() // overloaded
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.tcpSem }()
			s.serveTCPConn(c)
		}()
	}
}

// serveTCPConn answers the length-prefixed queries on c in turn until the
// client closes it, it idles for tcpIdleTimeout, or the server closes.
func (s *Server) serveTCPConn(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()
	var l [2]byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		reply := s.safeRespond(q, true)
		if reply == nil {
			return // nothing to say to this client: hang up
		}
		out := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		copy(out[2:], reply)
		_ = c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// safeRespond is respond, with a panic (a bug, here or in the Resolver)
// turned into no reply instead of ending the process.
func (s *Server) safeRespond(q []byte, tcp bool) (reply []byte) {
	defer func() {
		if recover() != nil {
			reply = nil
		}
	}()
	return s.respond(s.ctx, q, tcp)
}

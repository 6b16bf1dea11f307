package dns

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

func aAddrs(r *mdns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*mdns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestServeInNetns(t *testing.T) {
	testutil.RequireRoot(t)
	up := startUpstream(t)
	ups := &upstreamList{}
	ups.set(up.addr)
	_, ns, addr := serveInNS(t, testResolver(), ups)

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			// Known name, any case, with or without the trailing dot.
			for _, name := range []string{"web", "WeB."} {
				r, _ := askIn(t, ns, network, addr, query(name, mdns.TypeA, 0))
				if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || !r.RecursionAvailable {
					t.Errorf("A %s: rcode %s aa %v ra %v", name, mdns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable)
				}
				got := aAddrs(r)
				if len(got) != 2 || got[0] != "10.89.0.2" || got[1] != "10.89.0.3" {
					t.Errorf("A %s: %v", name, got)
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != 600 || rr.Header().Name != mdns.Fqdn(name) {
						t.Errorf("A %s: record %v", name, rr)
					}
				}
			}
			// Other types of a known name: NOERROR, no answer.
			for _, typ := range []uint16{mdns.TypeAAAA, mdns.TypeMX, mdns.TypeTXT} {
				r, _ := askIn(t, ns, network, addr, query("db", typ, 1232))
				if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || !r.Authoritative {
					t.Errorf("%s db: rcode %s, %d answers", mdns.TypeToString[typ], mdns.RcodeToString[r.Rcode], len(r.Answer))
				}
				if r.IsEdns0() == nil {
					t.Errorf("%s db: no OPT in the reply to an EDNS query", mdns.TypeToString[typ])
				}
			}
			// A known name without addresses.
			r, _ := askIn(t, ns, network, addr, query("noaddr", mdns.TypeA, 0))
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
				t.Errorf("A noaddr: rcode %s, %d answers", mdns.RcodeToString[r.Rcode], len(r.Answer))
			}
			// Reverse lookups.
			r, _ = askIn(t, ns, network, addr, query("2.0.89.10.in-addr.arpa", mdns.TypePTR, 0))
			if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web." || !r.Authoritative {
				t.Errorf("PTR 10.89.0.2: %v", r)
			}
			r, _ = askIn(t, ns, network, addr, query("4.0.89.10.IN-ADDR.ARPA.", mdns.TypePTR, 0))
			if len(r.Answer) != 2 || r.Answer[0].(*mdns.PTR).Ptr != "db." || r.Answer[1].(*mdns.PTR).Ptr != "db.mynet." {
				t.Errorf("PTR 10.89.0.4: %v", r)
			}
			// Unknown names go to the upstream, which listens on the
			// host's 127.0.0.1 only: forwarding is done from the host.
			before := up.udp.Load() + up.tcp.Load()
			r, _ = askIn(t, ns, network, addr, query("Example.Test", mdns.TypeA, 0))
			if got := aAddrs(r); len(got) != 1 || got[0] != "192.0.2.1" || r.Authoritative {
				t.Errorf("forwarded A example.test: %v", r)
			}
			if network == "tcp" && up.tcp.Load() == 0 {
				t.Error("a TCP query was not forwarded over TCP")
			}
			r, _ = askIn(t, ns, network, addr, query("nowhere.test", mdns.TypeA, 0))
			if r.Rcode != mdns.RcodeNameError {
				t.Errorf("forwarded nowhere.test: rcode %s", mdns.RcodeToString[r.Rcode])
			}
			// An unknown reverse name is forwarded too.
			r, _ = askIn(t, ns, network, addr, query("9.9.89.10.in-addr.arpa", mdns.TypePTR, 0))
			if r.Rcode != mdns.RcodeNameError {
				t.Errorf("forwarded PTR: rcode %s", mdns.RcodeToString[r.Rcode])
			}
			if n := up.udp.Load() + up.tcp.Load() - before; n != 3 {
				t.Errorf("upstream saw %d queries, want 3", n)
			}
		})
	}
}

func TestForwardTruncatedRetriesOverTCP(t *testing.T) {
	testutil.RequireRoot(t)
	up := startUpstream(t)
	ups := &upstreamList{}
	ups.set(up.addr)
	_, ns, addr := serveInNS(t, testResolver(), ups)

	// A client that takes 4096 bytes gets all 100 records over UDP: the
	// server retried over TCP when the upstream truncated.
	r, _ := askIn(t, ns, "udp", addr, query("big.test", mdns.TypeA, 4096))
	if len(r.Answer) != 100 || r.Truncated {
		t.Errorf("big.test over UDP/4096: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
	if up.udp.Load() != 1 || up.tcp.Load() != 1 {
		t.Errorf("upstream saw %d UDP and %d TCP queries, want 1 and 1", up.udp.Load(), up.tcp.Load())
	}
	// A plain 512-byte client gets what fits, with TC...
	r, _ = askIn(t, ns, "udp", addr, query("big.test", mdns.TypeA, 0))
	if !r.Truncated || len(r.Answer) >= 100 {
		t.Errorf("big.test over UDP/512: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
	// ...and all of it over TCP.
	r, _ = askIn(t, ns, "tcp", addr, query("big.test", mdns.TypeA, 0))
	if len(r.Answer) != 100 || r.Truncated {
		t.Errorf("big.test over TCP: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
	// Local answers too large for UDP are truncated the same way.
	r, _ = askIn(t, ns, "udp", addr, query("many", mdns.TypeA, 0))
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 100 {
		t.Errorf("many over UDP/512: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
	r, _ = askIn(t, ns, "tcp", addr, query("many", mdns.TypeA, 0))
	if len(r.Answer) != 100 || r.Truncated {
		t.Errorf("many over TCP: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
}

func TestUpstreamFailures(t *testing.T) {
	testutil.RequireRoot(t)
	up := startUpstream(t)
	ups := &upstreamList{}
	_, ns, addr := serveInNS(t, testResolver(), ups)
	hole := blackhole(t)

	servfail := func(what string, max time.Duration) {
		t.Helper()
		start := time.Now()
		r, _ := askIn(t, ns, "udp", addr, query("example.test", mdns.TypeA, 0))
		if r.Rcode != mdns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", what, mdns.RcodeToString[r.Rcode])
		}
		if d := time.Since(start); d > max {
			t.Errorf("%s: SERVFAIL took %s", what, d)
		}
	}
	ups.set()
	servfail("no upstreams", time.Second)
	ups.set(closedPort(t))
	servfail("upstream port closed", time.Second)
	ups.set(hole)
	servfail("upstream not answering", 3*time.Second)
	ups.set("not an address", "127.0.0.1:0")
	servfail("unusable upstreams", time.Second)

	// Known names do not depend on the upstreams.
	r, _ := askIn(t, ns, "udp", addr, query("web", mdns.TypeA, 0))
	if len(r.Answer) != 2 {
		t.Errorf("A web without upstreams: %v", r)
	}
	// A failing upstream is skipped for the next one; so is SERVFAIL.
	ups.set(closedPort(t), up.addr)
	r, _ = askIn(t, ns, "udp", addr, query("example.test", mdns.TypeA, 0))
	if got := aAddrs(r); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("second upstream after a closed one: %v", r)
	}
	ups.set(up.addr)
	r, _ = askIn(t, ns, "tcp", addr, query("fail.test", mdns.TypeA, 0))
	if r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("fail.test: rcode %s", mdns.RcodeToString[r.Rcode])
	}
}

// countingConn counts the datagrams a PacketConn reads.
type countingConn struct {
	net.PacketConn
	n atomic.Int32
}

func (c *countingConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.n.Add(1)
	}
	return n, a, err
}

func TestNeverForwardsToItself(t *testing.T) {
	up := startUpstream(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{PacketConn: pc}
	self := pc.LocalAddr().String()
	s := New(testResolver(), func() []string { return []string{self, up.addr} })
	done := make(chan error, 1)
	go func() { done <- s.Serve(cc, nil) }()
	defer func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := &mdns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(query("example.test", mdns.TypeA, 0), self)
	if err != nil {
		t.Fatal(err)
	}
	if got := aAddrs(r); len(got) != 1 || got[0] != "192.0.2.1" {
		t.Errorf("reply %v", r)
	}
	if n := cc.n.Load(); n != 1 {
		t.Errorf("the server read %d queries, want 1 (it forwarded to itself)", n)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	hole := blackhole(t)
	base := runtime.NumGoroutine()

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(testResolver(), func() []string { return []string{hole} })
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc, ln) }()

	// An idle TCP client, and forwarded queries stuck on the blackhole.
	idle, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	client, err := net.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for range 5 {
		b, _ := query("stuck.test", mdns.TypeA, 0).Pack()
		if _, err := client.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(s.fwdSem) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(s.fwdSem) != 5 {
		t.Fatalf("%d forwards in flight, want 5", len(s.fwdSem))
	}

	start := time.Now()
	s.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s with forwards in flight", d)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Serve did not return after Close")
	}
	s.Close() // idempotent
	if err := s.Serve(nil, nil); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	// The idle connection was closed by the server.
	_ = idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("idle TCP connection still open after Close")
	}
	// No goroutine is left behind.
	deadline = time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

func TestForwardCap(t *testing.T) {
	s := New(testResolver(), func() []string { return []string{"192.0.2.53"} })
	defer s.Close()
	called := false
	s.exchange = func(context.Context, string, string, *mdns.Msg) (*mdns.Msg, error) {
		called = true
		return nil, errors.New("unreachable")
	}
	for range maxForwards {
		s.fwdSem <- struct{}{}
	}
	q := query("example.test", mdns.TypeA, 0)
	b, _ := q.Pack()
	r := new(mdns.Msg)
	if err := r.Unpack(s.respond(context.Background(), b, false)); err != nil {
		t.Fatal(err)
	}
	if r.Rcode != mdns.RcodeServerFailure || called {
		t.Errorf("over the cap: rcode %s, forwarded %v", mdns.RcodeToString[r.Rcode], called)
	}
	// Local names are still answered.
	b, _ = query("web", mdns.TypeA, 0).Pack()
	if err := r.Unpack(s.respond(context.Background(), b, false)); err != nil || len(r.Answer) != 2 {
		t.Errorf("A web over the forward cap: %v %v", r, err)
	}
}

func TestListenInNetnsErrors(t *testing.T) {
	testutil.RequireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	if _, _, err := ListenInNetns("/nonexistent/ns/net", "127.0.0.11:53"); err == nil {
		t.Error("ListenInNetns into a missing namespace: no error")
	}
	_, path := newNS(t)
	// An address the namespace does not have.
	if _, _, err := ListenInNetns(path, "192.0.2.1:53"); err == nil {
		t.Error("ListenInNetns on an address not in the namespace: no error")
	}
	pc, ln, err := ListenInNetns(path, "127.0.0.11:53")
	if err != nil {
		t.Fatal(err)
	}
	// The sockets are in the namespace: the address is taken there...
	if _, _, err := ListenInNetns(path, "127.0.0.11:53"); err == nil {
		t.Error("second ListenInNetns on the same address: no error")
	}
	// ...and not here, in the caller's namespace.
	if l, err := net.Listen("tcp4", "127.0.0.11:53"); err != nil {
		t.Logf("127.0.0.11:53 in the host namespace: %v (something else uses it?)", err)
	} else {
		l.Close()
	}
	pc.Close()
	ln.Close()

	// The calling thread stayed in its namespace.
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !before.Equal(after) {
		t.Error("ListenInNetns moved the calling thread")
	}
}

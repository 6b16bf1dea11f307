package dns

import (
	"github.com/hull-project/hull/internal/testutil"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/vishvananda/netns"
)

// mapResolver is a Resolver over fixed tables.
type mapResolver struct {
	a   map[string][]netip.Addr
	ptr map[netip.Addr][]string
}

func (r mapResolver) LookupA(name string) ([]netip.Addr, bool) {
	a, ok := r.a[name]
	return a, ok
}

func (r mapResolver) LookupPTR(addr netip.Addr) []string { return r.ptr[addr] }

// testResolver knows "web" (two addresses), "db" (one), "noaddr" (none)
// and "many" (100 addresses).
func testResolver() mapResolver {
	r := mapResolver{
		a: map[string][]netip.Addr{
			"web":    {netip.MustParseAddr("10.89.0.2"), netip.MustParseAddr("10.89.0.3")},
			"db":     {netip.MustParseAddr("10.89.0.4")},
			"noaddr": nil,
		},
		ptr: map[netip.Addr][]string{
			netip.MustParseAddr("10.89.0.2"):   {"web"},
			netip.MustParseAddr("10.89.0.4"):   {"db.", "db.mynet"},
			netip.MustParseAddr("fd00::1"):     {"web"},
			netip.MustParseAddr("10.89.0.200"): {"bad..name"},
		},
	}
	var many []netip.Addr
	for i := range 100 {
		many = append(many, netip.AddrFrom4([4]byte{10, 90, byte(i / 256), byte(i%256 + 1)}))
	}
	r.a["many"] = many
	return r
}

// newNS makes a network namespace with lo up for the test.
func newNS(t *testing.T) (netns.NsHandle, string) { return testutil.NewNetNS(t, true) }

// dialInNS opens a DNS client connection to addr from inside ns, on a
// thread that is then discarded; the socket stays in ns.
func dialInNS(t *testing.T, ns netns.NsHandle, network, addr string) *mdns.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with us
		if err := netns.Set(ns); err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := net.DialTimeout(network, addr, 5*time.Second)
		ch <- res{c, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("dial %s %s in the namespace: %v", network, addr, r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return &mdns.Conn{Conn: r.c, UDPSize: 65535}
}

// askIn sends m from inside ns to addr over network and returns the reply
// and how long it took.
func askIn(t *testing.T, ns netns.NsHandle, network, addr string, m *mdns.Msg) (*mdns.Msg, time.Duration) {
	t.Helper()
	co := dialInNS(t, ns, network, addr)
	c := &mdns.Client{Net: network, Timeout: 8 * time.Second}
	r, rtt, err := c.ExchangeWithConn(m, co)
	if err != nil {
		t.Fatalf("%s query %s in the namespace: %v", network, m.Question[0].Name, err)
	}
	return r, rtt
}

// query is a query for name and type, with an EDNS0 OPT of size when
// size > 0.
func query(name string, typ uint16, size uint16) *mdns.Msg {
	m := new(mdns.Msg).SetQuestion(mdns.Fqdn(name), typ)
	if size > 0 {
		m.SetEdns0(size, false)
	}
	return m
}

// upstream is a real DNS server in the host's namespace for forwarding
// tests: example.test A 192.0.2.1; big.test has 100 A records, but over
// UDP only a truncated reply; anything else NXDOMAIN.
type upstream struct {
	addr     string // 127.0.0.1:port, UDP and TCP
	udp, tcp atomic.Int32
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	u.addr = pc.LocalAddr().String()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		tcp := w.LocalAddr().Network() == "tcp"
		if tcp {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		r := new(mdns.Msg).SetReply(q)
		switch strings.ToLower(q.Question[0].Name) {
		case "example.test.":
			if q.Question[0].Qtype == mdns.TypeA {
				r.Answer = append(r.Answer, &mdns.A{
					Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
					A:   net.IPv4(192, 0, 2, 1).To4(),
				})
			}
		case "big.test.":
			if !tcp {
				r.Truncated = true
				break
			}
			for i := range 100 {
				r.Answer = append(r.Answer, &mdns.A{
					Hdr: mdns.RR_Header{Name: q.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 30},
					A:   net.IPv4(198, 51, 100, byte(i+1)).To4(),
				})
			}
		case "fail.test.":
			r.Rcode = mdns.RcodeServerFailure
		default:
			r.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(r)
	})
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the Shutdowns below (cleanups are LIFO)
	for _, s := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return u
}

// blackhole is a bound UDP port that never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// closedPort is a UDP address nothing listens on (the kernel refuses it).
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := pc.LocalAddr().String()
	pc.Close()
	return a
}

// upstreamList is a concurrency-safe, changeable upstreams() for New.
type upstreamList struct {
	mu   sync.Mutex
	list []string
}

func (l *upstreamList) set(s ...string) {
	l.mu.Lock()
	l.list = s
	l.mu.Unlock()
}

func (l *upstreamList) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.list...)
}

// serveInNS starts a Server for r in a new namespace at 127.0.0.11:53 and
// returns it, the namespace and the server's address.
func serveInNS(t *testing.T, r Resolver, ups *upstreamList) (*Server, netns.NsHandle, string) {
	t.Helper()
	ns, path := newNS(t)
	const addr = "127.0.0.11:53"
	pc, ln, err := ListenInNetns(path, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := New(r, ups.get)
	done := make(chan error, 1)
	go func() { done <- s.Serve(pc, ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ns, addr
}

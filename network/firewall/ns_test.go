package firewall

import (
	"bufio"
	"fmt"
	"github.com/hull-project/hull/internal/testutil"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/hull-project/hull/network/bridge"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Timeouts of the traffic probes: short, so dropped packets fail fast.
const (
	dialTimeout = time.Second
	ioTimeout   = 2 * time.Second
)

// newNS makes a fresh network namespace for the test.
func newNS(t *testing.T) netns.NsHandle {
	ns, _ := testutil.NewNetNS(t, false)
	return ns
}

// in runs fn on a fresh OS thread inside ns; sockets fn opens live in ns.
// The thread is never unlocked, so it is discarded afterwards.
func in(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// nsPath is a path of ns for bridge.Endpoint.NS.
func nsPath(ns netns.NsHandle) string { return "/proc/self/fd/" + strconv.Itoa(int(ns)) }

// ruleset is `nft list ruleset` of ns, for diagnostics only.
func ruleset(ns netns.NsHandle) string {
	var out []byte
	err := in(ns, func() error {
		var err error
		out, err = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Sprintf("(nft list ruleset: %v) %s", err, out)
	}
	return string(out)
}

// dumpOnFailure logs ns's ruleset if the test fails.
func dumpOnFailure(t *testing.T, ns netns.NsHandle) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ruleset of the host namespace:\n%s", ruleset(ns))
		}
	})
}

// rulesOf is a comparable snapshot of a table: per chain its hook, type
// and rules (expressions and comments), without handles.
func rulesOf(t *testing.T, ns netns.NsHandle, fam nftables.TableFamily, name string) map[string][]string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(fam)
	if err != nil {
		t.Fatalf("list chains: %v", err)
	}
	snap := map[string][]string{}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		head := fmt.Sprintf("type=%s", ch.Type)
		if ch.Hooknum != nil {
			head += fmt.Sprintf(" hook=%d prio=%d", *ch.Hooknum, *ch.Priority)
		}
		lines := []string{head}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatalf("rules of %s: %v", ch.Name, err)
		}
		for _, r := range rules {
			lines = append(lines, exprString(r.Exprs)+" "+string(r.UserData))
		}
		snap[ch.Name] = lines
	}
	return snap
}

func exprString(es []expr.Any) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%T%+v;", e, e)
	}
	return b.String()
}

func sameRules(a, b map[string][]string) bool { return reflect.DeepEqual(a, b) }

// serve answers every TCP connection on ln with "<name> <client IP>".
func serve(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			ip, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			_, _ = io.WriteString(c, name+" "+ip+"\n")
		}()
	}
}

// serveUDP answers every datagram on pc with "<name> <client IP>".
func serveUDP(pc net.PacketConn, name string) {
	buf := make([]byte, 512)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		ip, _, _ := net.SplitHostPort(from.String())
		_, _ = pc.WriteTo([]byte(name+" "+ip+"\n"), from)
	}
}

// listen opens a TCP (and with udp, also a UDP) server called name on
// addr inside ns, closed when the test ends.
func listen(t *testing.T, ns netns.NsHandle, addr, name string, udp bool) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := in(ns, func() error {
		var err error
		if ln, err = net.Listen("tcp4", addr); err != nil {
			return err
		}
		if udp {
			pc, err = net.ListenPacket("udp4", addr)
		}
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); serve(ln, name) }()
	if pc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); serveUDP(pc, name) }()
	}
	t.Cleanup(func() {
		ln.Close()
		if pc != nil {
			pc.Close()
		}
		wg.Wait()
	})
}

// dial connects from inside ns to addr over proto ("tcp" or "udp") and
// returns the server's answer: its name and the client address it saw.
func dial(ns netns.NsHandle, proto, addr string) (name, src string, err error) {
	var c net.Conn
	err = in(ns, func() error {
		var err error
		c, err = net.DialTimeout(proto+"4", addr, dialTimeout)
		return err
	})
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", "", err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return "", "", fmt.Errorf("bad answer %q", line)
	}
	return f[0], f[1], nil
}

// mustAddr adds the address p (with prefix length) to l.
func mustAddr(l netlink.Link, p string) error {
	a, err := netlink.ParseAddr(p)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, l.Attrs().Name, err)
	}
	return nil
}

func linkUp(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set %s up: %w", name, err)
	}
	return l, nil
}

// sysctl reads a /proc/sys file inside ns.
func sysctl(ns netns.NsHandle, path string) (string, error) {
	var b []byte
	err := in(ns, func() error {
		var err error
		b, err = os.ReadFile(path)
		return err
	})
	return strings.TrimSpace(string(b)), err
}

// setSysctlIn writes a /proc/sys file inside ns.
func setSysctlIn(ns netns.NsHandle, path, val string) error {
	return in(ns, func() error { return os.WriteFile(path, []byte(val), 0o644) })
}

// Addresses of the test topology, all inside its namespaces.
var (
	hostAddr     = netip.MustParseAddr("203.0.113.1")  // the host's address towards "outside"
	outsideAddr  = netip.MustParseAddr("203.0.113.2")  // the outside end of that link
	internetAddr = netip.MustParseAddr("198.51.100.1") // a server beyond the host
)

// endpoint is a container of the topology.
type endpoint struct {
	name   string
	bridge string
	addr   netip.Addr
}

// world is the test topology: a host namespace with bridges, containers
// attached to them and an outside namespace the host routes through.
type world struct {
	host, outside netns.NsHandle
	ns            map[string]netns.NsHandle // by container name, plus "host" and "outside"
	nets          []Network
	eps           []endpoint
}

func gateway(n Network) netip.Addr { return n.Subnet.Addr().Next() }

// newWorld builds the topology. Containers of internal networks get a
// default route too, so that only the firewall keeps them in.
func newWorld(t *testing.T, nets []Network, eps []endpoint, brNetfilter bool) *world {
	t.Helper()
	w := &world{host: newNS(t), outside: newNS(t), ns: map[string]netns.NsHandle{}, nets: nets, eps: eps}
	w.ns["host"], w.ns["outside"] = w.host, w.outside
	for _, e := range eps {
		w.ns[e.name] = newNS(t)
	}
	const brnf = "/proc/sys/net/bridge/bridge-nf-call-iptables"
	if _, err := sysctl(w.host, brnf); err != nil {
		if brNetfilter {
			t.Skipf("br_netfilter is not loaded (%v)", err)
		}
	} else {
		val := map[bool]string{true: "1", false: "0"}[brNetfilter]
		if err := setSysctlIn(w.host, brnf, val); err != nil {
			t.Fatalf("bridge-nf-call-iptables=%s: %v", val, err)
		}
		if got, _ := sysctl(w.host, brnf); got != val {
			t.Fatalf("bridge-nf-call-iptables is %s after writing %s", got, val)
		}
	}

	err := in(w.host, func() error {
		if _, err := linkUp("lo"); err != nil {
			return err
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ext0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(w.outside))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("veth to outside: %w", err)
		}
		l, err := linkUp("ext0")
		if err != nil {
			return err
		}
		if err := mustAddr(l, hostAddr.String()+"/24"); err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{Gw: outsideAddr.AsSlice()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
		for _, n := range nets {
			if err := bridge.Ensure(n.Bridge, netip.PrefixFrom(gateway(n), n.Subnet.Bits()), 0); err != nil {
				return err
			}
		}
		for i, e := range eps {
			var n Network
			for _, n = range nets {
				if n.Bridge == e.bridge {
					break
				}
			}
			hostName := "veth" + strconv.Itoa(i)
			err := bridge.Attach(e.bridge, bridge.Endpoint{HostName: hostName, NS: nsPath(w.ns[e.name]), IfName: "eth0",
				Addr: netip.PrefixFrom(e.addr, n.Subnet.Bits()), Gateway: gateway(n)})
			if err != nil {
				return fmt.Errorf("attach %s: %w", e.name, err)
			}
			// A container reaching its own published port through the
			// host's address comes back out its own bridge port when
			// br_netfilter bridges the DNATed packet.
			hl, err := netlink.LinkByName(hostName)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetHairpin(hl, true); err != nil {
				return fmt.Errorf("hairpin on %s: %w", hostName, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("host namespace: %v", err)
	}
	err = in(w.outside, func() error {
		lo, err := linkUp("lo")
		if err != nil {
			return err
		}
		if err := mustAddr(lo, internetAddr.String()+"/32"); err != nil {
			return err
		}
		l, err := linkUp("eth0")
		if err != nil {
			return err
		}
		return mustAddr(l, outsideAddr.String()+"/24")
	})
	if err != nil {
		t.Fatalf("outside namespace: %v", err)
	}
	if err := EnableForwarding(WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	if got, err := sysctl(w.host, "/proc/sys/net/ipv4/ip_forward"); err != nil || got != "1" {
		t.Fatalf("ip_forward in the host namespace is %q (%v) after EnableForwarding", got, err)
	}
	if err := EnableForwarding(WithNetNS(int(w.host))); err != nil { // already 1: no-op
		t.Fatal(err)
	}
	for _, n := range nets {
		if err := RouteLocalnet(n.Bridge, WithNetNS(int(w.host))); err != nil {
			t.Fatal(err)
		}
		if got, _ := sysctl(w.host, "/proc/sys/net/ipv4/conf/"+n.Bridge+"/route_localnet"); got != "1" {
			t.Fatalf("route_localnet on %s is %q", n.Bridge, got)
		}
	}
	dumpOnFailure(t, w.host)
	return w
}

// probe is one connection attempt and its expected outcome.
type probe struct {
	from, proto, to string
	want            string // the server that must answer; "" = the connection must fail
	src             string // the client address it must see; "" = any
}

func (p probe) String() string {
	s := fmt.Sprintf("%s %s -> %s", p.from, p.proto, p.to)
	if p.want == "" {
		return s + " (must fail)"
	}
	return s + " (must reach " + p.want + ")"
}

// check runs the probes concurrently (a dropped connection takes
// dialTimeout to fail) and reports every unexpected outcome.
func (w *world) check(t *testing.T, probes ...probe) {
	t.Helper()
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.try(p)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", probes[i], err)
		}
	}
}

// try runs one probe and says what went wrong, if anything.
func (w *world) try(p probe) error {
	name, src, err := dial(w.ns[p.from], p.proto, p.to)
	switch {
	case p.want == "" && err == nil:
		return fmt.Errorf("answered by %s (seeing the client as %s), want no connection", name, src)
	case p.want == "":
		return nil
	case err != nil:
		return fmt.Errorf("%w, want an answer from %s", err, p.want)
	case name != p.want:
		return fmt.Errorf("answered by %s, want %s", name, p.want)
	case p.src != "" && src != p.src:
		return fmt.Errorf("%s saw the client as %s, want %s", name, src, p.src)
	}
	return nil
}

// routeVia adds a route to dst via gw in the calling thread's namespace.
func routeVia(dst string, gw netip.Addr) error {
	p := netip.MustParsePrefix(dst)
	r := &netlink.Route{Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}, Gw: gw.AsSlice()}
	if err := netlink.RouteAdd(r); err != nil {
		return fmt.Errorf("route %s via %s: %w", dst, gw, err)
	}
	return nil
}

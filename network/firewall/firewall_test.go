package firewall

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/vishvananda/netns"
)

func sampleState(nPorts int) State {
	st := State{Networks: []Network{
		{Bridge: "hull0", Subnet: netip.MustParsePrefix("172.17.0.0/16")},
		{Bridge: "hull1", Subnet: netip.MustParsePrefix("172.18.0.0/16"), Internal: true},
	}}
	for i := range nPorts {
		p := Port{Proto: "tcp", HostPort: uint16(8000 + i), ContainerIP: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}),
			ContainerPort: 80, Bridge: "hull0"}
		if i%3 == 1 {
			p.Proto = "udp"
		}
		if i%4 == 2 {
			p.HostIP = netip.MustParseAddr("127.0.0.1")
		}
		st.Ports = append(st.Ports, p)
	}
	return st
}

func TestValidate(t *testing.T) {
	good := sampleState(3)
	if err := validate(good); err != nil {
		t.Fatalf("valid state: %v", err)
	}
	cases := map[string]func(*State){
		"empty bridge":        func(s *State) { s.Networks[0].Bridge = "" },
		"long bridge":         func(s *State) { s.Networks[0].Bridge = "a234567890123456" },
		"slash in bridge":     func(s *State) { s.Networks[0].Bridge = "a/b" },
		"ipv6 subnet":         func(s *State) { s.Networks[0].Subnet = netip.MustParsePrefix("fd00::/64") },
		"no subnet":           func(s *State) { s.Networks[0].Subnet = netip.Prefix{} },
		"duplicate network":   func(s *State) { s.Networks[1].Bridge = s.Networks[0].Bridge },
		"sctp":                func(s *State) { s.Ports[0].Proto = "sctp" },
		"upper-case tcp":      func(s *State) { s.Ports[0].Proto = "TCP" },
		"ipv6 host ip":        func(s *State) { s.Ports[0].HostIP = netip.MustParseAddr("::1") },
		"no container ip":     func(s *State) { s.Ports[0].ContainerIP = netip.Addr{} },
		"host port 0":         func(s *State) { s.Ports[0].HostPort = 0 },
		"container port 0":    func(s *State) { s.Ports[0].ContainerPort = 0 },
		"unknown bridge":      func(s *State) { s.Ports[0].Bridge = "nope" },
		"ip outside subnet":   func(s *State) { s.Ports[0].ContainerIP = netip.MustParseAddr("10.0.0.2") },
		"published twice":     func(s *State) { s.Ports[1] = s.Ports[0]; s.Ports[1].ContainerPort = 81 },
		"0.0.0.0 and unset":   func(s *State) { s.Ports[1] = s.Ports[0]; s.Ports[1].HostIP = netip.IPv4Unspecified() },
		"ipv4-mapped host ip": func(s *State) { s.Ports[0].HostIP = netip.MustParseAddr("::ffff:127.0.0.1") },
	}
	for name, mutate := range cases {
		st := sampleState(3)
		mutate(&st)
		err := validate(st)
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "firewall: ") {
			t.Errorf("%s: error %q lacks context", name, err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, fd := range []int{0, -1} {
		if err := Apply(State{}, WithNetNS(fd)); err == nil {
			t.Errorf("Apply with netns fd %d: no error", fd)
		}
		if _, err := Tables(WithNetNS(fd)); err == nil {
			t.Errorf("Tables with netns fd %d: no error", fd)
		}
		if err := EnableForwarding(WithNetNS(fd)); err == nil {
			t.Errorf("EnableForwarding with netns fd %d: no error", fd)
		}
	}
	if err := RouteLocalnet("../all"); err == nil {
		t.Error("RouteLocalnet accepted ../all")
	}
}

// TestInvalidStateWritesNothing: a state Apply refuses leaves the
// namespace's rules alone.
func TestInvalidStateWritesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	ns := newNS(t)
	st := sampleState(2)
	if err := Apply(st, WithNetNS(int(ns))); err != nil {
		t.Fatal(err)
	}
	before := rulesOf(t, ns, nftables.TableFamilyIPv4, TableName)
	bad := sampleState(2)
	bad.Ports[0].Proto = "icmp"
	if err := Apply(bad, WithNetNS(int(ns))); err == nil {
		t.Fatal("Apply of an invalid state: no error")
	}
	if after := rulesOf(t, ns, nftables.TableFamilyIPv4, TableName); !sameRules(before, after) {
		t.Errorf("a refused Apply changed the rules")
	}
}

// TestApplyRepairsTable: whatever is in table ip hull (a crash half way,
// someone's edits) is replaced by exactly the state.
func TestApplyRepairsTable(t *testing.T) {
	testutil.RequireRoot(t)
	st := sampleState(4)
	clean := newNS(t)
	if err := Apply(st, WithNetNS(int(clean))); err != nil {
		t.Fatal(err)
	}
	want := rulesOf(t, clean, nftables.TableFamilyIPv4, TableName)

	ns := newNS(t)
	dumpOnFailure(t, ns)
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: TableName})
	drop := nftables.ChainPolicyDrop
	fwd := c.AddChain(&nftables.Chain{Table: tb, Name: "forward", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &drop})
	junk := c.AddChain(&nftables.Chain{Table: tb, Name: "junk"})
	c.AddRule(&nftables.Rule{Table: tb, Chain: junk, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}})
	c.AddRule(&nftables.Rule{Table: tb, Chain: fwd, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: "junk"}}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := Apply(st, WithNetNS(int(ns))); err != nil {
		t.Fatal(err)
	}
	if got := rulesOf(t, ns, nftables.TableFamilyIPv4, TableName); !sameRules(want, got) {
		t.Errorf("repaired table differs from a clean one:\n%v\n%v", got, want)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		if ch.Name == "forward" && ch.Policy != nil && *ch.Policy != nftables.ChainPolicyAccept {
			t.Errorf("forward chain policy %d after Apply, want accept", *ch.Policy)
		}
	}
}

// TestConcurrentApply: Applys in several namespaces at once (run with
// -race).
func TestConcurrentApply(t *testing.T) {
	testutil.RequireRoot(t)
	nss := []int{int(newNS(t)), int(newNS(t))}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Apply(sampleState(i+1), WithNetNS(nss[i%2]))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, ns := range nss {
		if ok, err := Installed(WithNetNS(ns)); err != nil || !ok {
			t.Errorf("Installed: %v, %v", ok, err)
		}
	}
}

func TestSysctlErrors(t *testing.T) {
	testutil.RequireRoot(t)
	ns := newNS(t)
	err := RouteLocalnet("nosuchbr", WithNetNS(int(ns)))
	if err == nil || !strings.Contains(err.Error(), "nosuchbr") {
		t.Errorf("RouteLocalnet on a missing bridge: %v", err)
	}
	// A new namespace copies ip_forward from the initial one: start
	// from 0 in two namespaces and enable it in one of them from a
	// thread in the other.
	const fwd = "/proc/sys/net/ipv4/ip_forward"
	caller := newNS(t)
	for _, n := range []int{int(ns), int(caller)} {
		if err := setSysctlIn(netns.NsHandle(n), fwd, "0"); err != nil {
			t.Fatal(err)
		}
	}
	if err := in(caller, func() error { return EnableForwarding(WithNetNS(int(ns))) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := sysctl(ns, fwd); got != "1" {
		t.Errorf("ip_forward is %q after EnableForwarding", got)
	}
	if got, _ := sysctl(caller, fwd); got != "0" {
		t.Errorf("ip_forward of the caller's namespace is %q after EnableForwarding in another", got)
	}
	// Without WithNetNS: the caller's own namespace.
	if err := in(caller, func() error { return EnableForwarding() }); err != nil {
		t.Fatal(err)
	}
	if got, _ := sysctl(caller, fwd); got != "1" {
		t.Errorf("ip_forward of the caller's namespace is %q after EnableForwarding()", got)
	}
}

// TestApplyTiming logs how long Apply takes for 2 networks and 10 ports.
func TestApplyTiming(t *testing.T) {
	testutil.RequireRoot(t)
	ns := newNS(t)
	st := sampleState(10)
	var times []time.Duration
	for _, s := range []State{st, st, {}} {
		start := time.Now()
		if err := Apply(s, WithNetNS(int(ns))); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	t.Logf("Apply of 2 networks and 10 ports: %v creating the table, %v replacing it; %v removing it", times[0], times[1], times[2])
}

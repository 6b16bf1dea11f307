package firewall

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/vishvananda/netns"
)

// The topology of TestTraffic: two ordinary networks and an internal one.
var (
	netA   = Network{Bridge: "hulla", Subnet: netip.MustParsePrefix("172.30.1.0/24")}
	netB   = Network{Bridge: "hullb", Subnet: netip.MustParsePrefix("172.30.2.0/24")}
	netInt = Network{Bridge: "hulli", Subnet: netip.MustParsePrefix("172.30.3.0/24"), Internal: true}

	a1   = endpoint{"a1", "hulla", netip.MustParseAddr("172.30.1.2")}
	a2   = endpoint{"a2", "hulla", netip.MustParseAddr("172.30.1.3")}
	b1   = endpoint{"b1", "hullb", netip.MustParseAddr("172.30.2.2")}
	int1 = endpoint{"int1", "hulli", netip.MustParseAddr("172.30.3.2")}
	int2 = endpoint{"int2", "hulli", netip.MustParseAddr("172.30.3.3")}
)

func tcpPort(host uint16, e endpoint, ctr uint16) Port {
	return Port{Proto: "tcp", HostPort: host, ContainerIP: e.addr, ContainerPort: ctr, Bridge: e.bridge}
}

func trafficState() State {
	local := tcpPort(8004, a1, 80)
	local.HostIP = netip.MustParseAddr("127.0.0.1")
	udp := tcpPort(8005, b1, 53)
	udp.Proto = "udp"
	return State{
		Networks: []Network{netA, netB, netInt},
		Ports: []Port{
			tcpPort(8001, a1, 80),
			tcpPort(8002, a2, 80),
			tcpPort(8003, b1, 80),
			local,
			udp,
			tcpPort(8006, int1, 80),
		},
	}
}

func at(a netip.Addr, port string) string { return a.String() + ":" + port }

// TestTraffic builds a host with three bridge networks, five containers
// and an outside network in fresh namespaces, applies rules and checks
// which connections work, with br_netfilter's bridge-nf-call-iptables
// off and on.
func TestTraffic(t *testing.T) {
	testutil.RequireRoot(t)
	for _, brnf := range []bool{false, true} {
		name := map[bool]string{false: "bridge-nf-call-iptables=0", true: "bridge-nf-call-iptables=1"}[brnf]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testTraffic(t, brnf)
		})
	}
}

func testTraffic(t *testing.T, brnf bool) {
	w := newWorld(t, []Network{netA, netB, netInt}, []endpoint{a1, a2, b1, int1, int2}, brnf)
	for _, e := range w.eps {
		listen(t, w.ns[e.name], "0.0.0.0:80", e.name, false)
		if e.name == "b1" {
			listen(t, w.ns[e.name], "0.0.0.0:53", e.name, true)
		}
	}
	listen(t, w.outside, "0.0.0.0:9000", "outside", false)

	// A table hull does not own, which no Apply may touch.
	foreign := addForeignTable(t, w.host)

	// Outside routes the container subnets through the host: the
	// firewall alone must stop direct connections.
	if err := in(w.outside, func() error {
		return routeVia("172.30.0.0/16", hostAddr)
	}); err != nil {
		t.Fatal(err)
	}

	st := trafficState()
	if err := Apply(st, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	host, gwA, gwB := hostAddr.String(), gateway(netA).String(), gateway(netB).String()
	w.check(t,
		// 1. Egress is masqueraded behind the host's address.
		probe{from: "a1", proto: "tcp", to: at(internetAddr, "9000"), want: "outside", src: host},
		probe{from: "b1", proto: "tcp", to: at(internetAddr, "9000"), want: "outside", src: host},
		// 2. Published ports, from outside (client address kept), from
		// the host itself to 127.0.0.1, its own and the bridge address;
		// a port published on 127.0.0.1 is only there.
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8001"), want: "a1", src: outsideAddr.String()},
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8003"), want: "b1", src: outsideAddr.String()},
		probe{from: "outside", proto: "udp", to: at(hostAddr, "8005"), want: "b1", src: outsideAddr.String()},
		probe{from: "host", proto: "tcp", to: "127.0.0.1:8001", want: "a1", src: gwA},
		probe{from: "host", proto: "tcp", to: at(hostAddr, "8001"), want: "a1"},
		probe{from: "host", proto: "tcp", to: gwA + ":8002", want: "a2"},
		probe{from: "host", proto: "tcp", to: "127.0.0.1:8004", want: "a1", src: gwA},
		probe{from: "host", proto: "tcp", to: at(hostAddr, "8004")},
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8004")},
		probe{from: "host", proto: "tcp", to: at(a1.addr, "80"), want: "a1"}, // the host's own traffic is not policed
		// 3. Hairpin: to a neighbour's and to one's own published port,
		// answered from the host side.
		probe{from: "a1", proto: "tcp", to: at(hostAddr, "8002"), want: "a2", src: gwA},
		probe{from: "a1", proto: "tcp", to: at(hostAddr, "8001"), want: "a1", src: gwA},
		probe{from: "a2", proto: "tcp", to: gwA + ":8001", want: "a1", src: gwA},
		probe{from: "a1", proto: "tcp", to: at(a2.addr, "80"), want: "a2", src: a1.addr.String()}, // same bridge, direct
		// 4. Isolation between networks, except through published ports.
		probe{from: "a1", proto: "tcp", to: at(b1.addr, "80")},
		probe{from: "b1", proto: "tcp", to: at(a1.addr, "80")},
		probe{from: "a1", proto: "tcp", to: at(hostAddr, "8003"), want: "b1", src: gwB},
		probe{from: "b1", proto: "udp", to: at(hostAddr, "8005"), want: "b1", src: gwB},
		// 5. Internal: members only.
		probe{from: "int1", proto: "tcp", to: at(int2.addr, "80"), want: "int2", src: int1.addr.String()},
		probe{from: "int1", proto: "tcp", to: at(internetAddr, "9000")},
		probe{from: "int1", proto: "tcp", to: at(a1.addr, "80")},
		probe{from: "int1", proto: "tcp", to: at(hostAddr, "8001")},
		probe{from: "a1", proto: "tcp", to: at(int1.addr, "80")},
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8006")},
		// 6. No routing into container subnets from outside.
		probe{from: "outside", proto: "tcp", to: at(a1.addr, "80")},
		probe{from: "outside", proto: "tcp", to: at(b1.addr, "80")},
		probe{from: "outside", proto: "tcp", to: at(int1.addr, "80")},
	)
	if t.Failed() {
		return
	}

	// 7. Idempotent: the same state gives the same rules.
	first := rulesOf(t, w.host, nftables.TableFamilyIPv4, TableName)
	if len(first) != 5 {
		t.Fatalf("hull's table has chains %v, want 5", first)
	}
	if err := Apply(st, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	if again := rulesOf(t, w.host, nftables.TableFamilyIPv4, TableName); !sameRules(first, again) {
		t.Errorf("second Apply of the same state changed the rules:\n%v\n%v", first, again)
	}

	// A new state replaces the old one: 8002 goes, 8001 moves to a2.
	st2 := trafficState()
	st2.Ports = slices.DeleteFunc(st2.Ports, func(p Port) bool { return p.HostPort == 8002 })
	st2.Ports[0] = tcpPort(8001, a2, 80)
	if err := Apply(st2, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	w.check(t,
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8002")},
		probe{from: "a1", proto: "tcp", to: at(hostAddr, "8002")},
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8001"), want: "a2"},
		probe{from: "host", proto: "tcp", to: "127.0.0.1:8001", want: "a2"},
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8003"), want: "b1"},
	)

	// The empty state removes the table and nothing else.
	if err := Apply(State{}, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	if ok, err := Installed(WithNetNS(int(w.host))); err != nil || ok {
		t.Fatalf("Installed after the empty state: %v, %v", ok, err)
	}
	if err := Apply(State{}, WithNetNS(int(w.host))); err != nil {
		t.Fatalf("empty state without a table: %v", err)
	}
	w.check(t,
		probe{from: "outside", proto: "tcp", to: at(hostAddr, "8001")},
		probe{from: "host", proto: "tcp", to: "127.0.0.1:8001"},
		// The controls: without hull's rules these would work, so it was
		// the rules that stopped them.
		probe{from: "outside", proto: "tcp", to: at(a1.addr, "80"), want: "a1"},
		probe{from: "a1", proto: "tcp", to: at(b1.addr, "80"), want: "b1", src: a1.addr.String()},
		probe{from: "int1", proto: "tcp", to: at(a1.addr, "80"), want: "a1"},
		probe{from: "a1", proto: "tcp", to: at(internetAddr, "9000"), want: "outside", src: a1.addr.String()},
	)

	// And a table can be made again from nothing.
	if err := Apply(st, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	if again := rulesOf(t, w.host, nftables.TableFamilyIPv4, TableName); !sameRules(first, again) {
		t.Errorf("rules made again differ:\n%v\n%v", first, again)
	}
	w.check(t, probe{from: "outside", proto: "tcp", to: at(hostAddr, "8002"), want: "a2"})

	tables, err := Tables(WithNetNS(int(w.host)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tables, []string{"inet other", "ip hull"}) {
		t.Errorf("tables %v, want [inet other ip hull]", tables)
	}
	if after := rulesOf(t, w.host, nftables.TableFamilyINet, "other"); !sameRules(foreign, after) {
		t.Errorf("the foreign table changed:\n%v\n%v", foreign, after)
	}
}

// addForeignTable makes "table inet other" with a base chain and a rule
// in ns and returns its snapshot.
func addForeignTable(t *testing.T, ns netns.NsHandle) map[string][]string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "other"})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Table: tb, Name: "input", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: append(append(
		l4proto("tcp"), dport(9999)...), &expr.Verdict{Kind: expr.VerdictAccept})})
	c.AddChain(&nftables.Chain{Table: tb, Name: "other"})
	if err := c.Flush(); err != nil {
		t.Fatalf("foreign table: %v", err)
	}
	snap := rulesOf(t, ns, nftables.TableFamilyINet, "other")
	if len(snap) != 2 || len(snap["input"]) != 2 {
		t.Fatalf("foreign table snapshot %v", snap)
	}
	return snap
}

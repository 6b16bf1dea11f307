package network

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hull-project/hull/network/firewall"
	"github.com/hull-project/hull/network/ipam"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// inPrivateNetns runs the test on a thread in a new network namespace,
// so its bridges, veths, sysctls and nftables table are its own and the
// host's (and other tests') are untouched. The thread is never given
// back: it ends with the test's goroutine.
func inPrivateNetns(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
}

func ipamConfig(subnet string) ipam.Config {
	return ipam.Config{Subnet: netip.MustParsePrefix(subnet)}
}

// newTestStore opens a store in a temporary directory whose host has the
// given routes.
func newTestStore(t *testing.T, routes ...string) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var ps []netip.Prefix
	for _, r := range routes {
		ps = append(ps, netip.MustParsePrefix(r))
	}
	s.hostRoutes = func() ([]netip.Prefix, error) { return ps, nil }
	return s
}

// container starts a process in its own network namespace (a
// container's stand-in) and returns its pid.
func container(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func TestStoreNetworks(t *testing.T) {
	inPrivateNetns(t)
	// The host already routes 172.17/16 (say, Docker's docker0).
	s := newTestStore(t, "172.17.0.0/16", "192.0.2.0/24")
	nets, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 3 || nets[0].Name != DefaultName || nets[1].Name != HostName || nets[2].Name != NoneName { // by name
		t.Fatalf("predefined networks: %+v", nets)
	}
	if nets[0].Subnet.String() != "172.18.0.0/16" || nets[0].Bridge != DefaultBridge {
		t.Errorf("default network took %s on %s, want 172.18.0.0/16 (172.17/16 is routed)", nets[0].Subnet, nets[0].Bridge)
	}
	again, _ := s.List()
	if again[0].ID != nets[0].ID {
		t.Error("the default network changed ID between lists")
	}
	a, err := s.Create(CreateOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Subnet.String() != "172.19.0.0/16" || a.Gateway.String() != "172.19.0.1" {
		t.Errorf("a: %s gw %s", a.Subnet, a.Gateway)
	}
	if l, err := netlink.LinkByName(a.Bridge); err != nil || l.Type() != "bridge" {
		t.Errorf("bridge of a: %v", err)
	}
	if ok, err := firewall.Installed(); err != nil || !ok {
		t.Errorf("firewall table after create: %v %v", ok, err)
	}
	for _, c := range []struct {
		o    CreateOptions
		want string
	}{
		{CreateOptions{Name: "a"}, "already exists"},
		{CreateOptions{Name: "bridge"}, "predefined"},
		{CreateOptions{Name: "-x"}, "invalid network name"},
		{CreateOptions{Name: "b", Subnet: netip.MustParsePrefix("172.19.128.0/17")}, "overlaps"},
		{CreateOptions{Name: "b", Driver: "overlay"}, "not supported"},
		{CreateOptions{Name: "b", Subnet: netip.MustParsePrefix("fd00::/64")}, "IPv4 only"},
		{CreateOptions{Name: "b", Gateway: netip.MustParseAddr("10.0.0.1")}, "need --subnet"},
		{CreateOptions{Name: "b", Options: map[string]string{"com.docker.network.bridge.name": "this-name-is-too-long"}}, "invalid bridge name"},
		{CreateOptions{Name: "b", Options: map[string]string{"mtu": "12"}}, "invalid MTU"},
		{CreateOptions{Name: "b", Options: map[string]string{HostBindingOption: "::1"}}, "IPv4"},
	} {
		if _, err := s.Create(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%+v) = %v, want %q", c.o, err, c.want)
		}
	}
	// A failed create leaves nothing behind: the subnet is free.
	if _, err := s.Create(CreateOptions{Name: "c", Subnet: netip.MustParsePrefix("10.40.0.0/24"), Internal: true,
		Options: map[string]string{"com.docker.network.bridge.name": "hullc", "mtu": "1400"}}); err != nil {
		t.Fatal(err)
	}
	if l, err := netlink.LinkByName("hullc"); err != nil || l.Attrs().MTU != 1400 {
		t.Errorf("bridge hullc: %v", err)
	}
	if n, err := s.Get("c"); err != nil || !n.Internal || n.MTU != 1400 {
		t.Errorf("Get(c) = %+v, %v", n, err)
	}
	if _, err := s.Get(a.ID[:5]); err != nil {
		t.Errorf("Get by ID prefix: %v", err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v", err)
	}
	if _, err := s.Remove("host"); err == nil {
		t.Error("removed the host network")
	}
	if _, err := s.Remove("c"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("hullc"); err == nil {
		t.Error("bridge hullc left after rm")
	}
	if _, err := s.Create(CreateOptions{Name: "c2", Subnet: netip.MustParsePrefix("10.40.0.0/24")}); err != nil {
		t.Errorf("subnet of a removed network: %v", err)
	}
}

func TestStoreSandboxes(t *testing.T) {
	inPrivateNetns(t)
	s := newTestStore(t)
	n, err := s.Create(CreateOptions{Name: "n", Subnet: netip.MustParsePrefix("10.50.0.0/29")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Create(CreateOptions{Name: "m", Subnet: netip.MustParsePrefix("10.51.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	// Container 1 on n and m, with a port; container 2 on n.
	pid1, pid2 := container(t), container(t)
	id1, id2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	sb1, res1, err := s.Allocate(Request{ContainerID: id1, Name: "one", Hostname: "h1",
		Networks: []Attachment{{Network: "n", Aliases: []string{"uno"}}, {Network: "m"}},
		Ports:    []PortRequest{{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer res1.Close()
	if len(sb1.Ports) != 1 || sb1.Ports[0].HostPort == 0 {
		t.Fatalf("ports: %+v", sb1.Ports)
	}
	if err := s.Wire(sb1, pid1); err != nil {
		t.Fatal(err)
	}
	sb2, res2, err := s.Allocate(Request{ContainerID: id2, Name: "two", Networks: []Attachment{{Network: n.ID}}})
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Close()
	if err := s.Wire(sb2, pid2); err != nil {
		t.Fatal(err)
	}
	if a := sb1.Endpoints[0].Addr.Addr(); a.String() != "10.50.0.2" {
		t.Errorf("first address: %s", a)
	}
	// Container 1's stack, seen from inside its namespace.
	ns1, err := netns.GetFromPid(pid1)
	if err != nil {
		t.Fatal(err)
	}
	defer ns1.Close()
	if h, err := netlink.NewHandleAt(ns1); err != nil {
		t.Error(err)
	} else {
		links, _ := h.LinkList()
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		if strings.Join(names, " ") != "lo eth0 eth1" {
			t.Errorf("links in container 1: %v", names)
		}
		h.Close()
	}
	// A port another sandbox holds, and the same bound by a program.
	_, _, err = s.Allocate(Request{ContainerID: strings.Repeat("3", 64), Name: "three", Networks: []Attachment{{Network: "m"}},
		Ports: []PortRequest{{Proto: "tcp", HostPortFirst: sb1.Ports[0].HostPort, HostPortLast: sb1.Ports[0].HostPort, ContainerPort: 80}}})
	if err == nil || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("port clash: %v", err)
	}
	// The resolver: names on shared networks only.
	r := s.Resolver(id2)
	if a, ok := r.LookupA("uno"); !ok || len(a) != 1 || a[0].String() != "10.50.0.2" {
		t.Errorf("resolver of two: uno = %v %v", a, ok)
	}
	for _, name := range []string{"one", "h1", "one.n", strings.Repeat("1", 12), "ONE."} {
		if _, ok := r.LookupA(name); !ok {
			t.Errorf("resolver of two does not know %q", name)
		}
	}
	if ptr := r.LookupPTR(netip.MustParseAddr("10.50.0.2")); len(ptr) != 1 || ptr[0] != "one.n" {
		t.Errorf("PTR: %v", ptr)
	}
	if a, _ := s.Resolver(id1).LookupA("one"); len(a) != 2 {
		t.Errorf("one on two networks: %v", a)
	}
	// The /29 has 5 addresses; 2 are taken, 3 more go, then none.
	var extra []string
	for i := 0; i < 4; i++ {
		id := strings.Repeat(string(rune('a'+i)), 64)
		_, res, err := s.Allocate(Request{ContainerID: id, Name: id[:4], Networks: []Attachment{{Network: "n"}}})
		if i < 3 && err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if i == 3 && (err == nil || !strings.Contains(err.Error(), "no available IP")) {
			t.Fatalf("allocation past the end: %v", err)
		}
		res.Close()
		extra = append(extra, id)
	}
	// Those sandboxes are owned by this (live) process: a sweep keeps
	// them; releasing them frees the addresses.
	if gone, err := s.Sweep(); err != nil || len(gone) != 0 {
		t.Errorf("sweep of live sandboxes: %v %v", gone, err)
	}
	for _, id := range extra[:3] {
		if err := s.Release(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Remove("n"); err == nil || !strings.Contains(err.Error(), "active endpoints (one, two)") {
		t.Errorf("rm of a network in use: %v", err)
	}
	// Container 2 dies: the sweep releases it (its veth goes with its
	// namespace).
	veth2 := sb2.Endpoints[0].HostVeth
	_ = unix.Kill(pid2, unix.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for {
		gone, err := s.Sweep()
		if err != nil {
			t.Fatal(err)
		}
		if len(gone) == 1 && gone[0] == id2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweep after container 2 died: %v", gone)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		if _, err := netlink.LinkByName(veth2); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := netlink.LinkByName(veth2); err == nil {
		t.Errorf("veth %s of a dead container left", veth2)
	}
	if _, ok := s.Resolver(id1).LookupA("two"); ok {
		t.Error("a released container still resolves")
	}
	// Disconnect and connect a running container.
	if err := s.Disconnect(id1, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(sb1.Endpoints[1].HostVeth); err == nil {
		t.Error("veth left after disconnect")
	}
	e, err := s.Connect(id1, pid1, Attachment{Network: "m", IP: netip.MustParseAddr("10.51.0.9")})
	if err != nil || e.Addr.String() != "10.51.0.9/24" || e.IfName != "eth1" {
		t.Fatalf("connect: %+v %v", e, err)
	}
	if _, err := s.Connect(id1, pid1, Attachment{Network: "m"}); err == nil {
		t.Error("connected twice")
	}
	if err := s.Release(id1); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(id1); err != nil {
		t.Errorf("second release: %v", err)
	}
	if _, err := s.Remove("n"); err != nil {
		t.Errorf("rm after release: %v", err)
	}
	if _, err := s.Remove(m.Name); err != nil {
		t.Errorf("rm m: %v", err)
	}
}

// What a process killed half-way leaves (an address allocated but no
// sandbox written, an IPAM table without its network record) is dropped
// by the next sweep, so the address and the subnet are usable again.
func TestSweepAfterKill(t *testing.T) {
	inPrivateNetns(t)
	s := newTestStore(t)
	n, err := s.Create(CreateOptions{Name: "n", Subnet: netip.MustParsePrefix("10.60.0.0/30")})
	if err != nil {
		t.Fatal(err)
	}
	// The /30 has one address for containers; a killed allocation took it.
	if _, err := s.ipam.Allocate(n.ID, strings.Repeat("d", 64), netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	// A killed create left a table for 10.61.0.0/24 and no record.
	if _, err := s.ipam.Create(strings.Repeat("e", 64), ipamConfig("10.61.0.0/24")); err != nil {
		t.Fatal(err)
	}
	// Creating a network on that subnet sweeps first, so it works.
	if _, err := s.Create(CreateOptions{Name: "m", Subnet: netip.MustParsePrefix("10.61.0.0/24")}); err != nil {
		t.Errorf("subnet of a half-created network: %v", err)
	}
	// The leaked address is free again once a sweep ran.
	if _, err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	sb, res, err := s.Allocate(Request{ContainerID: strings.Repeat("f", 64), Name: "f", Networks: []Attachment{{Network: "n"}}})
	if err != nil {
		t.Fatalf("the only address after the sweep: %v", err)
	}
	res.Close()
	if got := sb.Endpoints[0].Addr.Addr().String(); got != "10.60.0.2" {
		t.Errorf("got %s", got)
	}
}

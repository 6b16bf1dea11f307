package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
)

func mustCreate(t *testing.T, s *Store, name, subnet string, mod func(*Config)) Config {
	t.Helper()
	c := Config{Subnet: netip.MustParsePrefix(subnet)}
	if mod != nil {
		mod(&c)
	}
	got, err := s.Create(name, c)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return got
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       Config
		gateway string
		err     bool
	}{
		{"default gateway", Config{Subnet: netip.MustParsePrefix("172.18.0.0/16")}, "172.18.0.1", false},
		{"unmasked subnet", Config{Subnet: netip.MustParsePrefix("172.18.5.7/16")}, "172.18.0.1", false},
		{"explicit gateway", Config{Subnet: netip.MustParsePrefix("10.1.0.0/24"), Gateway: netip.MustParseAddr("10.1.0.254")}, "10.1.0.254", false},
		{"ipv6", Config{Subnet: netip.MustParsePrefix("fd00:1::/64")}, "fd00:1::1", false},
		{"no subnet", Config{}, "", true},
		{"too small", Config{Subnet: netip.MustParsePrefix("10.0.0.0/31")}, "", true},
		{"gateway outside", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.1.1")}, "", true},
		{"gateway is broadcast", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Gateway: netip.MustParseAddr("10.0.0.255")}, "", true},
		{"range outside", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Range: netip.MustParsePrefix("10.0.1.0/28")}, "", true},
		{"range wider", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24"), Range: netip.MustParsePrefix("10.0.0.0/16")}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.c.complete()
			if tc.err {
				if err == nil {
					t.Fatalf("want an error, got %+v", c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Gateway.String() != tc.gateway {
				t.Errorf("gateway %s, want %s", c.Gateway, tc.gateway)
			}
		})
	}
}

func TestAllocateSkipsReservedAndExhausts(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "small", "10.9.0.0/29", nil) // .0 net, .1 gw, .7 broadcast: .2-.6 usable
	var got []string
	for i := 0; i < 5; i++ {
		a, err := s.Allocate("small", fmt.Sprint("c", i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.String())
	}
	if fmt.Sprint(got) != "[10.9.0.2 10.9.0.3 10.9.0.4 10.9.0.5 10.9.0.6]" {
		t.Errorf("allocated %v", got)
	}
	if _, err := s.Allocate("small", "c6", netip.Addr{}); !errors.Is(err, ErrExhausted) {
		t.Errorf("allocate from a full pool: %v", err)
	}
	// Next-fit: after releasing .3 and .5, the next is .3 (wrapping),
	// never an address still in use.
	if err := s.Release("small", netip.MustParseAddr("10.9.0.3")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseOwner("small", "c3"); err != nil { // .5
		t.Fatal(err)
	}
	a, err := s.Allocate("small", "c7", netip.Addr{})
	if err != nil || a.String() != "10.9.0.3" {
		t.Errorf("after release: %v %v", a, err)
	}
	b, err := s.Allocate("small", "c8", netip.Addr{})
	if err != nil || b.String() != "10.9.0.5" {
		t.Errorf("after release: %v %v", b, err)
	}
}

func TestNextFitDoesNotReuseAtOnce(t *testing.T) {
	s, _ := Open(t.TempDir())
	mustCreate(t, s, "n", "10.8.0.0/24", nil)
	a, _ := s.Allocate("n", "a", netip.Addr{})
	if err := s.Release("n", a); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Allocate("n", "b", netip.Addr{})
	if a == b {
		t.Errorf("released %s was handed out again at once", a)
	}
}

func TestSpecificAddressAndRange(t *testing.T) {
	s, _ := Open(t.TempDir())
	mustCreate(t, s, "r", "192.168.50.0/24", func(c *Config) { c.Range = netip.MustParsePrefix("192.168.50.128/25") })
	a, err := s.Allocate("r", "x", netip.Addr{})
	if err != nil || a.String() != "192.168.50.128" {
		t.Errorf("first from range: %v %v", a, err)
	}
	want := netip.MustParseAddr("192.168.50.10") // outside the range, inside the subnet
	if got, err := s.Allocate("r", "y", want); err != nil || got != want {
		t.Errorf("specific: %v %v", got, err)
	}
	if _, err := s.Allocate("r", "z", want); !errors.Is(err, ErrInUse) {
		t.Errorf("taken specific address: %v", err)
	}
	for _, bad := range []string{"192.168.50.1", "192.168.50.0", "192.168.50.255", "10.0.0.1"} {
		if _, err := s.Allocate("r", "z", netip.MustParseAddr(bad)); err == nil {
			t.Errorf("allocate %s: no error", bad)
		}
	}
}

func TestOverlapsAndPersistence(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	mustCreate(t, s, "one", "172.20.0.0/16", nil)
	if _, err := s.Create("two", Config{Subnet: netip.MustParsePrefix("172.20.5.0/24")}); !errors.Is(err, ErrOverlap) {
		t.Errorf("overlapping subnet: %v", err)
	}
	if _, err := s.Create("one", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24")}); !errors.Is(err, ErrExists) {
		t.Errorf("same name: %v", err)
	}
	if _, err := s.Create("../escape", Config{Subnet: netip.MustParsePrefix("10.0.0.0/24")}); err == nil {
		t.Error("bad name accepted")
	}
	a, _ := s.Allocate("one", "c1", netip.Addr{})
	// Another process (a new Store on the same directory) sees it.
	s2, _ := Open(dir)
	addrs, owners, err := s2.InUse("one")
	if err != nil || len(addrs) != 1 || addrs[0] != a || owners[a] != "c1" {
		t.Errorf("reopened: %v %v %v", addrs, owners, err)
	}
	if b, _ := s2.Allocate("one", "c2", netip.Addr{}); b == a {
		t.Errorf("reopened store handed out %s twice", a)
	}
	if err := s2.Delete("one"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocate("one", "c3", netip.Addr{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted network: %v", err)
	}
	if _, err := s.Create("two", Config{Subnet: netip.MustParsePrefix("172.20.5.0/24")}); err != nil {
		t.Errorf("subnet free again after delete: %v", err)
	}
}

func TestConcurrentAllocationsAreUnique(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	mustCreate(t, s, "c", "10.7.0.0/24", nil)
	var mu sync.Mutex
	seen := map[netip.Addr]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, _ := Open(dir) // as separate processes would
			a, err := st.Allocate("c", fmt.Sprint("g", i), netip.Addr{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[a] {
				t.Errorf("%s handed out twice", a)
			}
			seen[a] = true
		}(i)
	}
	wg.Wait()
	if addrs, _, _ := s.InUse("c"); len(addrs) != 40 {
		t.Errorf("%d addresses in use, want 40", len(addrs))
	}
}

func TestIPv6(t *testing.T) {
	s, _ := Open(t.TempDir())
	mustCreate(t, s, "v6", "fd00:42::/120", nil)
	a, err := s.Allocate("v6", "c", netip.Addr{})
	if err != nil || a.String() != "fd00:42::2" {
		t.Errorf("ipv6: %v %v", a, err)
	}
}

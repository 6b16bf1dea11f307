package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newNS makes a network namespace for the test.
func newNS(t *testing.T) (netns.NsHandle, string) { return testutil.NewNetNS(t, false) }

// inside runs fn on a thread in ns.
func inside(t *testing.T, ns netns.NsHandle, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			t.Error(err)
			return
		}
		if err := netns.Set(ns); err != nil {
			t.Error(err)
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			return // leave the thread locked: it dies with the goroutine
		}
		orig.Close()
		runtime.UnlockOSThread()
	}()
	<-done
}

func TestAttachGivesAReachableEndpoint(t *testing.T) {
	testutil.RequireRoot(t)
	br := "hlt" + randHex(3)
	host := "hlv" + randHex(3)
	n := randHex(1)
	subnet := netip.MustParsePrefix("10.251." + strconv.Itoa(int(n[0])) + ".0/24")
	gw := netip.PrefixFrom(subnet.Addr().Next(), 24)
	ctr := netip.PrefixFrom(gw.Addr().Next(), 24)
	if err := Ensure(br, gw, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Delete(br) })
	if err := Ensure(br, gw, 0); err != nil { // idempotent
		t.Fatalf("second Ensure: %v", err)
	}
	ns, path := newNS(t)
	mac, _ := net.ParseMAC("02:42:0a:fb:00:02")
	e := Endpoint{HostName: host, NS: path, IfName: "eth0", Addr: ctr, Gateway: gw.Addr(), MAC: mac}
	if err := Attach(br, e); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Detach(host) })

	// Inside: eth0 with the address, the MAC and the default route; a
	// TCP listener there.
	var ln net.Listener
	inside(t, ns, func() {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			t.Errorf("eth0: %v", err)
			return
		}
		if l.Attrs().HardwareAddr.String() != mac.String() {
			t.Errorf("mac %s, want %s", l.Attrs().HardwareAddr, mac)
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IP.String() != ctr.Addr().String() {
			t.Errorf("eth0 addresses %v, want %s", addrs, ctr)
		}
		routes, _ := netlink.RouteList(l, netlink.FAMILY_V4)
		found := false
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == gw.Addr().String() {
				found = true
			}
		}
		if !found {
			t.Errorf("no default route via %s: %v", gw.Addr(), routes)
		}
		ln, err = net.Listen("tcp4", ctr.Addr().String()+":7777")
		if err != nil {
			t.Errorf("listen in the namespace: %v", err)
		}
	})
	if ln == nil {
		t.FailNow()
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello from the namespace"))
			c.Close()
		}
	}()
	// From the host, through the bridge.
	c, err := net.DialTimeout("tcp4", ctr.Addr().String()+":7777", 5*time.Second)
	if err != nil {
		t.Fatalf("dial the endpoint from the host: %v", err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "hello from the namespace" {
		t.Errorf("read %q", b)
	}

	// Detach removes both ends; Delete the bridge.
	if err := Detach(host); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(host); err == nil {
		t.Error("host veth left after Detach")
	}
	inside(t, ns, func() {
		if _, err := netlink.LinkByName("eth0"); err == nil {
			t.Error("eth0 left in the namespace after Detach")
		}
	})
	if err := Detach(host); err != nil {
		t.Errorf("second Detach: %v", err)
	}
	if err := Delete(br); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(br); err == nil {
		t.Error("bridge left after Delete")
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	testutil.RequireRoot(t)
	br := "hlt" + randHex(3)
	host := "hlv" + randHex(3)
	if err := Ensure(br, netip.MustParsePrefix("10.252.9.1/24"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Delete(br) })
	err := Attach(br, Endpoint{HostName: host, NS: "/nonexistent/ns", IfName: "eth0", Addr: netip.MustParsePrefix("10.252.9.2/24")})
	if err == nil {
		t.Fatal("attach to a missing namespace: no error")
	}
	if _, err := netlink.LinkByName(host); err == nil {
		t.Errorf("veth %s left after a failed Attach", host)
	}
	if err := Ensure("lo", netip.Prefix{}, 0); err == nil {
		t.Error("Ensure accepted a non-bridge link")
	}
}

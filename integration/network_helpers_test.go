package integration

// Helpers of the networking tests (network_*_test.go): real bridges,
// veths, nftables rules and DNS on this host. Traffic goes only to
// loopback, to the host's own addresses and to the containers the tests
// make.

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netEnv is a ctEnv whose networks are removed at the end (after its
// containers).
type netEnv struct {
	*ctEnv
	nets []string
}

func newNetEnv(t *testing.T) *netEnv {
	e := &netEnv{ctEnv: newCT(t)}
	t.Cleanup(func() {
		if r := e.hull("ps", "-aq", "--no-trunc"); r.code == 0 {
			if f := strings.Fields(r.stdout); len(f) > 0 {
				e.hull(append([]string{"rm", "-f", "-v"}, f...)...)
			}
		}
		for _, n := range e.nets {
			if r := e.hull("network", "rm", n); r.code != 0 {
				t.Errorf("remove network %s at cleanup:\n%v", n, r)
			}
		}
	})
	return e
}

// network creates a network with a unique name and returns the name.
func (e *netEnv) network(args ...string) string {
	e.t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "ht-" + hex.EncodeToString(b[:])
	e.must(append(append([]string{"network", "create"}, args...), name)...)
	e.nets = append(e.nets, name)
	return name
}

// ip is a running container's address on a network.
func (e *netEnv) ip(ctr, network string) string {
	e.t.Helper()
	r := e.must("inspect", "-f", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", ctr)
	ip := strings.TrimSpace(r.stdout)
	if net.ParseIP(ip) == nil {
		e.t.Fatalf("address of %s on %s: %q", ctr, network, ip)
	}
	return ip
}

// server runs a detached busybox web server whose page is its name.
func (e *netEnv) server(name string, args ...string) {
	e.t.Helper()
	run := append([]string{"run", "-d", "--name", name}, args...)
	run = append(run, "busybox", "sh", "-c", "mkdir -p /www && echo page-of-"+name+" > /www/index.html && exec httpd -f -p 80 -h /www")
	e.must(run...)
	e.waitFor(5*time.Second, name+" to listen", func() bool {
		r := e.hull("exec", name, "sh", "-c", "netstat -ltn | grep -q ':80 '")
		return r.code == 0
	})
}

// fetch is an HTTP GET of http://addr/ from the host with a short
// timeout; "" when nothing answers.
func fetch(addr string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// hostAddr is an IPv4 address of this host other than loopback.
func hostAddr(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || strings.HasPrefix(i.Name, "hull") || strings.HasPrefix(i.Name, "vh") || strings.HasPrefix(i.Name, "docker") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return ""
}

// freePort is a TCP port free on every address right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// nftPorts is hull's DNAT chain as nft lists it (for diagnostics and
// checks that rules went away).
func nftPorts(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "chain", "ip", "hull", "ports").CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// linkExists reports whether the host has a network interface name.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

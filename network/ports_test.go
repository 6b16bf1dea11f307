package network

import (
	"fmt"
	"strings"
	"testing"
)

func TestParsePublish(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: "80", want: "tcp :0-0->80"},
		{in: "8080:80", want: "tcp :8080-8080->80"},
		{in: "8080:80/udp", want: "udp :8080-8080->80"},
		{in: "127.0.0.1:8080:80", want: "tcp 127.0.0.1:8080-8080->80"},
		{in: "127.0.0.1::80", want: "tcp 127.0.0.1:0-0->80"},
		{in: "0.0.0.0:8080:80", want: "tcp :8080-8080->80"},
		{in: "[::]:8080:80", want: "tcp :8080-8080->80"},
		{in: "8000-8001:80-81", want: "tcp :8000-8000->80 tcp :8001-8001->81"},
		{in: "8000-8010:80", want: "tcp :8000-8010->80"},
		{in: "80-81", want: "tcp :0-0->80 tcp :0-0->81"},
		{in: "80/TCP", want: "tcp :0-0->80"},
		{in: "8000-8002:80-81", err: "invalid ranges"},
		{in: "x:80", err: "invalid hostPort"},
		{in: "80:x", err: "invalid containerPort"},
		{in: "0", err: "invalid containerPort"},
		{in: "65536", err: "invalid containerPort"},
		{in: "80/icmp", err: "invalid proto"},
		{in: "80/sctp", err: "sctp"},
		{in: "1.2.3:80:80", err: "invalid IP address"},
		{in: "[::1]:80:80", err: "IPv4 addresses only"},
		{in: "[::1:80:80", err: "unclosed"},
		{in: "a:b:c:d", err: "too many colons"},
		{in: "90-80", err: "invalid containerPort"},
		{in: "", err: "invalid containerPort"},
	} {
		got, err := ParsePublish(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePublish(%q) = %v, %v; want error %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePublish(%q): %v", c.in, err)
			continue
		}
		var parts []string
		for _, r := range got {
			ip := ""
			if r.HostIP.IsValid() {
				ip = r.HostIP.String()
			}
			parts = append(parts, fmt.Sprintf("%s %s:%d-%d->%d", r.Proto, ip, r.HostPortFirst, r.HostPortLast, r.ContainerPort))
		}
		if s := strings.Join(parts, " "); s != c.want {
			t.Errorf("ParsePublish(%q) = %s, want %s", c.in, s, c.want)
		}
	}
}

// FuzzParsePublish: no input panics, and what parses is consistent.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"80", "8080:80/udp", "127.0.0.1:8000-8010:80", "[::]:1:2", "1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParsePublish(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.ContainerPort == 0 || (r.Proto != "tcp" && r.Proto != "udp") || r.HostPortFirst > r.HostPortLast || (r.HostPortFirst == 0) != (r.HostPortLast == 0) {
				t.Fatalf("ParsePublish(%q) gave %+v", s, r)
			}
			if r.HostIP.IsValid() && !r.HostIP.Is4() {
				t.Fatalf("ParsePublish(%q) gave a non-IPv4 host address %s", s, r.HostIP)
			}
		}
	})
}

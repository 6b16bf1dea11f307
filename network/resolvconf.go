package network

import (
	"bytes"
	"net/netip"
	"strings"
)

// ResolvConf rewrites a resolv.conf with --dns servers, --dns-search
// domains and --dns-option options in place of the host's.
func ResolvConf(host []byte, servers []netip.Addr, search, options []string) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "nameserver" && len(servers) > 0,
			(f[0] == "search" || f[0] == "domain") && len(search) > 0,
			f[0] == "options" && len(options) > 0:
			continue
		}
		b.WriteString(line + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s.String() + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.Bytes()
}

// WithoutLoopbackServers drops nameservers on loopback addresses (a
// host's local cache) from a resolv.conf; if none is left, it adds
// Google's public servers, as Docker does.
func WithoutLoopbackServers(conf []byte) []byte {
	var b bytes.Buffer
	n := 0
	for _, line := range strings.Split(string(conf), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				continue
			}
			n++
		}
		if line != "" {
			b.WriteString(line + "\n")
		}
	}
	if n == 0 {
		b.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return b.Bytes()
}

// ParseExtraHost splits an --add-host entry, "name:addr" or "name=addr"
// (an IPv6 address may be in brackets, which are dropped); ok is false
// if it has neither separator.
func ParseExtraHost(h string) (name, addr string, ok bool) {
	name, addr, ok = strings.Cut(h, "=")
	if !ok {
		name, addr, ok = strings.Cut(h, ":")
	}
	return name, strings.Trim(addr, "[]"), ok
}

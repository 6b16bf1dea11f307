// Package dockermac is Docker's rule for the MAC address of a
// container's interface that nobody chose: 02:42 followed by the
// interface's IPv4 address. hull uses it too, and tells such a MAC from
// one asked for with --mac-address by checking it against the address.
package dockermac

import (
	"bytes"
	"net"
	"net/netip"
)

// For is the MAC of an interface with IPv4 address a.
func For(a netip.Addr) net.HardwareAddr {
	b := a.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// Generated reports whether mac is the MAC For(a) gives (a valid IPv4
// address).
func Generated(mac []byte, a netip.Addr) bool {
	return a.Is4() && bytes.Equal(mac, For(a))
}

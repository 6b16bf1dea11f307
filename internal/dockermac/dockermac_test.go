package dockermac

import (
	"net/netip"
	"testing"
)

func TestFor(t *testing.T) {
	a := netip.MustParseAddr("172.17.0.2")
	if got := For(a).String(); got != "02:42:ac:11:00:02" {
		t.Errorf("For(%s) = %s", a, got)
	}
	if !Generated(For(a), a) {
		t.Error("Generated(For(a), a) = false")
	}
	if Generated(For(a), netip.MustParseAddr("172.17.0.3")) || Generated([]byte{2, 0x42, 1, 2, 3, 4}, netip.Addr{}) {
		t.Error("Generated matched another address")
	}
}

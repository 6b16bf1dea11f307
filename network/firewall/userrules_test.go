package firewall

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
)

// TestUserForwardRules checks the README's advice for keeping published
// ports behind the host's firewall: a forward-hook chain in the user's
// own table, matching the DNATed connection's original destination port,
// filters who reaches a port published on every address, survives
// hull's rewrites of its own table, and leaves the host's own access on
// 127.0.0.1 alone.
func TestUserForwardRules(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed")
	}
	w := newWorld(t, []Network{netA}, []endpoint{a1}, false)
	listen(t, w.ns["a1"], "0.0.0.0:80", "a1", false)
	st := State{Networks: []Network{netA}, Ports: []Port{tcpPort(8001, a1, 80)}}
	if err := Apply(st, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	userTable := func(allowed string) {
		t.Helper()
		rules := fmt.Sprintf(`table inet myfirewall {
  chain forward {
    type filter hook forward priority -1;
    iifname "ext0" ct status dnat meta l4proto tcp ct original proto-dst 8001 ip saddr != %s drop
  }
}
`, allowed)
		err := in(w.host, func() error {
			_ = exec.Command("nft", "delete", "table", "inet", "myfirewall").Run()
			cmd := exec.Command("nft", "-f", "-")
			cmd.Stdin = strings.NewReader(rules)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("nft: %v: %s", err, out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	outside := probe{from: "outside", proto: "tcp", to: at(hostAddr, "8001"), want: "a1"}
	w.check(t, outside)

	// Only 192.0.2.0/24 may reach the port: outside (203.0.113.2) may not;
	// the host itself still may, on 127.0.0.1 and its own address.
	userTable("192.0.2.0/24")
	blocked := outside
	blocked.want = ""
	local := []probe{
		{from: "host", proto: "tcp", to: "127.0.0.1:8001", want: "a1"},
		{from: "host", proto: "tcp", to: at(hostAddr, "8001"), want: "a1"},
	}
	w.check(t, append(local, blocked)...)
	// hull rewrites its table: the user's rules stay and still apply.
	st.Ports = append(st.Ports, tcpPort(8002, a1, 80))
	if err := Apply(st, WithNetNS(int(w.host))); err != nil {
		t.Fatal(err)
	}
	w.check(t, append(local, blocked, probe{from: "outside", proto: "tcp", to: at(hostAddr, "8002"), want: "a1"})...)
	// Allowing outside's network lets it in again.
	userTable("203.0.113.0/24")
	w.check(t, outside)
}

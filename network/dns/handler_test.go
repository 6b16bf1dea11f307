package dns

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
)

// ask runs one query through respond and parses the reply.
func ask(t *testing.T, s *Server, m *mdns.Msg, tcp bool) *mdns.Msg {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := s.respond(context.Background(), b, tcp)
	if out == nil {
		t.Fatalf("no reply to %v", m.Question)
	}
	r := new(mdns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if r.Id != m.Id {
		t.Errorf("reply ID %d, query ID %d", r.Id, m.Id)
	}
	return r
}

func TestRespondMalformed(t *testing.T) {
	s := New(testResolver(), nil)
	defer s.Close()
	ctx := context.Background()

	if r := s.respond(ctx, []byte{1, 2, 3}, false); r != nil {
		t.Errorf("reply to a short packet: %x", r)
	}
	resp, _ := new(mdns.Msg).SetReply(query("web", mdns.TypeA, 0)).Pack()
	if r := s.respond(ctx, resp, false); r != nil {
		t.Errorf("reply to a response: %x", r)
	}

	hdr := func(b []byte) (id uint16, rcode int) {
		t.Helper()
		m := new(mdns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("reply %x does not parse: %v", b, err)
		}
		if !m.Response {
			t.Errorf("reply without QR")
		}
		return m.Id, m.Rcode
	}
	// A header announcing a question that is not there.
	garbage := []byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff}
	if id, rc := hdr(s.respond(ctx, garbage, false)); id != 0xbeef || rc != mdns.RcodeFormatError {
		t.Errorf("garbage: id %x rcode %s", id, mdns.RcodeToString[rc])
	}
	// No question, and two questions.
	none := &mdns.Msg{MsgHdr: mdns.MsgHdr{Id: 7}}
	two := query("web", mdns.TypeA, 0)
	two.Question = append(two.Question, two.Question[0])
	for _, m := range []*mdns.Msg{none, two} {
		b, _ := m.Pack()
		if id, rc := hdr(s.respond(ctx, b, false)); id != m.Id || rc != mdns.RcodeFormatError {
			t.Errorf("%d questions: id %d rcode %s", len(m.Question), id, mdns.RcodeToString[rc])
		}
	}
	// Other opcodes.
	upd := query("web", mdns.TypeA, 0)
	upd.Opcode = mdns.OpcodeUpdate
	b, _ := upd.Pack()
	if _, rc := hdr(s.respond(ctx, b, false)); rc != mdns.RcodeNotImplemented {
		t.Errorf("UPDATE: rcode %s", mdns.RcodeToString[rc])
	}
	// EDNS version 1.
	v1 := query("web", mdns.TypeA, 1232)
	v1.IsEdns0().SetVersion(1)
	if r := ask(t, s, v1, false); r.Rcode != mdns.RcodeBadVers {
		t.Errorf("EDNS1: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	// A TCP message of zero length is dropped.
	if r := s.respond(ctx, nil, true); r != nil {
		t.Errorf("reply to an empty TCP message: %x", r)
	}
}

func TestRespondLocal(t *testing.T) {
	s := New(testResolver(), func() []string { return nil })
	defer s.Close()

	r := ask(t, s, query("WEB", mdns.TypeANY, 0), false)
	if len(r.Answer) != 2 || !r.Authoritative {
		t.Errorf("ANY web: %v", r)
	}
	// Class CHAOS is not ours: forwarded (here: SERVFAIL, no upstreams).
	ch := query("web", mdns.TypeA, 0)
	ch.Question[0].Qclass = mdns.ClassCHAOS
	if r := ask(t, s, ch, false); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("CH web: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	// IPv6 reverse name.
	r = ask(t, s, query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", mdns.TypePTR, 0), true)
	if len(r.Answer) != 1 || r.Answer[0].(*mdns.PTR).Ptr != "web." {
		t.Errorf("PTR fd00::1: %v", r)
	}
	// A reverse name whose names are not domain names: no answer records.
	r = ask(t, s, query("200.0.89.10.in-addr.arpa", mdns.TypePTR, 0), false)
	if len(r.Answer) != 0 || r.Rcode != mdns.RcodeSuccess {
		t.Errorf("PTR with a bad name: %v", r)
	}
	// Truncation of local answers: 512 bytes without EDNS, more with.
	q := query("many", mdns.TypeA, 0)
	b, _ := q.Pack()
	if out := s.respond(context.Background(), b, false); len(out) > 512 {
		t.Errorf("UDP reply of %d bytes to a 512-byte client", len(out))
	}
	if r := ask(t, s, query("many", mdns.TypeA, 4096), false); len(r.Answer) != 100 || r.Truncated {
		t.Errorf("many over UDP/4096: %d answers, tc %v", len(r.Answer), r.Truncated)
	}
	// A nil Resolver knows nothing.
	n := New(nil, nil)
	defer n.Close()
	if r := ask(t, n, query("web", mdns.TypeA, 0), false); r.Rcode != mdns.RcodeServerFailure {
		t.Errorf("nil resolver: rcode %s", mdns.RcodeToString[r.Rcode])
	}
}

func TestParseReverse(t *testing.T) {
	for _, c := range []struct {
		name string
		want string // "" for not a reverse name
	}{
		{"4.3.2.1.in-addr.arpa", "1.2.3.4"},
		{"0.0.0.0.in-addr.arpa", "0.0.0.0"},
		{"255.255.255.255.in-addr.arpa", "255.255.255.255"},
		{"256.3.2.1.in-addr.arpa", ""},
		{"04.3.2.1.in-addr.arpa", ""},
		{"+4.3.2.1.in-addr.arpa", ""},
		{"3.2.1.in-addr.arpa", ""},
		{"5.4.3.2.1.in-addr.arpa", ""},
		{"4..2.1.in-addr.arpa", ""},
		{"in-addr.arpa", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::1"},
		{"f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "2001:db8::f"},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", ""},
		{"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", ""},
		{"web", ""},
	} {
		a, ok := parseReverse(c.name)
		got := ""
		if ok {
			got = a.String()
		}
		if got != c.want {
			t.Errorf("parseReverse(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestParseUpstream(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"1.1.1.1", "1.1.1.1:53"},
		{" 127.0.0.53 ", "127.0.0.53:53"},
		{"10.0.0.1:5353", "10.0.0.1:5353"},
		{"::1", "[::1]:53"},
		{"[::1]", "[::1]:53"},
		{"[2001:db8::1]:5353", "[2001:db8::1]:5353"},
		{"fe80::1%eth0", "[fe80::1%eth0]:53"},
		{"::ffff:10.0.0.1", "10.0.0.1:53"},
		{"10.0.0.1:0", ""},
		{"[::1", ""},
		{"dns.example", ""},
		{"", ""},
	} {
		ap, ok := parseUpstream(c.in)
		got := ""
		if ok {
			got = ap.String()
		}
		if got != c.want {
			t.Errorf("parseUpstream(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUpstreams(t *testing.T) {
	for _, c := range []struct {
		name, conf string
		want       []string
	}{
		{"empty", "", nil},
		{"systemd-resolved stub", "# managed\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n", []string{"127.0.0.53"}},
		{"order kept", "nameserver 10.0.0.1\nnameserver 2001:db8::53\nnameserver 10.0.0.2\n", []string{"10.0.0.1", "2001:db8::53", "10.0.0.2"}},
		{"comments", "; nameserver 1.1.1.1\n#nameserver 8.8.8.8\nnameserver 9.9.9.9 # quad9\nnameserver 1.0.0.1;x\n", []string{"9.9.9.9", "1.0.0.1"}},
		{"whitespace and CRLF", "  nameserver\t192.0.2.1\r\n\tnameserver   192.0.2.2  \n", []string{"192.0.2.1", "192.0.2.2"}},
		{"invalid entries", "nameserver\nnameserver dns.example\nnameserver 1.2.3\nnameserver 192.0.2.3:53\nnameservers 1.1.1.1\nNAMESERVER 1.1.1.1\n", nil},
		{"zone", "nameserver fe80::1%eth0\n", []string{"fe80::1%eth0"}},
		{"no trailing newline", "nameserver 192.0.2.9", []string{"192.0.2.9"}},
	} {
		if got := Upstreams([]byte(c.conf)); !slices.Equal(got, c.want) {
			t.Errorf("%s: Upstreams = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAddrPort(t *testing.T) {
	for _, a := range []net.Addr{
		net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.11:53")),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[::ffff:127.0.0.11]:53")),
	} {
		if ap, ok := addrPort(a); !ok || ap != netip.MustParseAddrPort("127.0.0.11:53") {
			t.Errorf("addrPort(%v) = %v %v", a, ap, ok)
		}
	}
	var nilUDP *net.UDPAddr
	for _, a := range []net.Addr{nil, nilUDP, &net.UnixAddr{Name: "/x", Net: "unixgram"}} {
		if ap, ok := addrPort(a); ok {
			t.Errorf("addrPort(%#v) = %v, ok", a, ap)
		}
	}
}

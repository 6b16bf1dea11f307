package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzServeDNS feeds arbitrary bytes to the per-message path of the server
// (what a UDP datagram or a TCP message goes through), with an upstream
// that answers arbitrary bytes too, and checks that it never panics, that
// every reply parses, carries the query's ID, and fits the client's UDP
// size.
func FuzzServeDNS(f *testing.F) {
	pack := func(m *mdns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	upReply := func(name string, typ uint16, n int, tc bool) []byte {
		m := new(mdns.Msg).SetReply(query(name, typ, 0))
		m.Truncated = tc
		for i := range n {
			m.Answer = append(m.Answer, &mdns.A{
				Hdr: mdns.RR_Header{Name: mdns.Fqdn(name), Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i)).To4(),
			})
		}
		return pack(m)
	}
	for _, s := range []struct {
		q   *mdns.Msg
		tcp bool
		up  []byte
	}{
		{query("web", mdns.TypeA, 0), false, nil},
		{query("WEB.", mdns.TypeAAAA, 1232), true, nil},
		{query("many", mdns.TypeA, 0), false, nil},
		{query("2.0.89.10.in-addr.arpa", mdns.TypePTR, 4096), false, nil},
		{query("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", mdns.TypePTR, 0), false, nil},
		{query("example.test", mdns.TypeA, 0), false, upReply("example.test", mdns.TypeA, 1, false)},
		{query("big.test", mdns.TypeA, 0), false, upReply("big.test", mdns.TypeA, 200, false)},
		{query("big.test", mdns.TypeA, 2048), true, upReply("big.test", mdns.TypeA, 50, true)},
		{query("gone.test", mdns.TypeMX, 0), false, []byte{0, 0, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0}},
	} {
		f.Add(pack(s.q), s.tcp, s.up)
	}
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0}, false, []byte(nil)) // UPDATE
	f.Add([]byte{0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c}, false, []byte(nil))

	f.Fuzz(func(t *testing.T, q []byte, tcp bool, up []byte) {
		s := New(testResolver(), func() []string { return []string{"192.0.2.53", "[2001:db8::53]:5353"} })
		defer s.Close()
		s.exchange = func(_ context.Context, _, _ string, m *mdns.Msg) (*mdns.Msg, error) {
			r := new(mdns.Msg)
			if err := r.Unpack(up); err != nil {
				return nil, errors.New("upstream: garbage")
			}
			r.Id = m.Id
			if len(r.Question) == 1 {
				r.Question[0] = m.Question[0]
			}
			return r, nil
		}
		out := s.respond(context.Background(), q, tcp)
		if out == nil {
			if len(q) >= headerLen && q[2]&0x80 == 0 {
				t.Fatalf("no reply to a query %x", q)
			}
			return
		}
		if len(out) > maxMsgLen {
			t.Fatalf("reply of %d bytes", len(out))
		}
		r := new(mdns.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("reply %x does not parse: %v", out, err)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(q) {
			t.Fatalf("reply id %d qr %v to query id %d", r.Id, r.Response, binary.BigEndian.Uint16(q))
		}
		if !tcp {
			limit := mdns.MinMsgSize
			m := new(mdns.Msg)
			if m.Unpack(q) == nil {
				if opt := m.IsEdns0(); opt != nil && int(opt.UDPSize()) > limit {
					limit = int(opt.UDPSize())
				}
			}
			if len(out) > limit {
				t.Fatalf("UDP reply of %d bytes to a client taking %d", len(out), limit)
			}
		}
	})
}

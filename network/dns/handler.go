package dns

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

const (
	// headerLen is the length of a DNS message header.
	headerLen = 12
	// localTTL is the TTL of local answers (Docker's).
	localTTL = 600
	// ednsSize is the UDP payload size advertised in local replies.
	ednsSize = 4096
	// maxMsgLen is the largest DNS message (TCP's 16-bit length prefix).
	maxMsgLen = 65535
)

// respond turns one query (the bytes of a UDP datagram, or of one TCP
// message without its length prefix) into the bytes of the reply, or nil
// when the query is to be dropped (too short to be answered, or itself a
// response). Malformed queries get FORMERR, other opcodes NOTIMP; names of
// the Resolver are answered locally, the rest forwarded. It never panics,
// whatever q holds, and a UDP reply fits in what the client can take.
func (s *Server) respond(ctx context.Context, q []byte, tcp bool) []byte {
	if len(q) < headerLen {
		return nil
	}
	id := binary.BigEndian.Uint16(q)
	if q[2]&0x80 != 0 { // QR: a response, not a query; never answer it
		return nil
	}
	opcode := int(q[2]>>3) & 0xF
	if opcode != mdns.OpcodeQuery {
		return headerReply(id, opcode, mdns.RcodeNotImplemented)
	}
	m := new(mdns.Msg)
	if err := m.Unpack(q); err != nil || len(m.Question) != 1 {
		return headerReply(id, opcode, mdns.RcodeFormatError)
	}
	limit := mdns.MinMsgSize
	if opt := m.IsEdns0(); opt != nil {
		if int(opt.UDPSize()) > limit {
			limit = int(opt.UDPSize())
		}
		if opt.Version() != 0 { // RFC 6891 6.1.3
			r := newReply(m)
			r.Rcode = mdns.RcodeBadVers
			return pack(r, m, tcp, limit)
		}
	}
	r := s.answerLocal(m)
	if r == nil {
		r = s.forward(ctx, m, tcp)
	}
	return pack(r, m, tcp, limit)
}

// pack encodes reply r to query q: with the client's ID, compressed, and
// for UDP truncated (TC set) to limit bytes. An unencodable reply becomes
// SERVFAIL.
func pack(r, q *mdns.Msg, tcp bool, limit int) []byte {
	r.Id = q.Id
	r.Response = true
	if tcp {
		r.Compress = true
	} else {
		r.Truncate(limit)
	}
	b, err := r.Pack()
	if err == nil && len(b) <= maxMsgLen && (tcp || len(b) <= limit) {
		return b
	}
	if err == nil && !tcp {
		// Still too large (Truncate leaves TSIG-signed replies alone):
		// the question alone, with TC, sends the client to TCP.
		t := newReply(q)
		t.Truncated = true
		t.Rcode = r.Rcode
		if b, err = t.Pack(); err == nil && len(b) <= limit {
			return b
		}
	}
	f := newReply(q)
	f.Rcode = mdns.RcodeServerFailure
	if b, err = f.Pack(); err == nil && len(b) <= maxMsgLen {
		return b
	}
	return headerReply(q.Id, q.Opcode, mdns.RcodeServerFailure)
}

// headerReply is a reply of a header only, for queries that cannot be
// parsed or served.
func headerReply(id uint16, opcode, rcode int) []byte {
	m := &mdns.Msg{MsgHdr: mdns.MsgHdr{Id: id, Response: true, Opcode: opcode, Rcode: rcode}}
	b, err := m.Pack()
	if err != nil { // cannot happen with a header of valid fields
		return nil
	}
	return b
}

// newReply starts a reply to q: its question, RD and CD copied, RA set,
// and an OPT record when q had one.
func newReply(q *mdns.Msg) *mdns.Msg {
	r := new(mdns.Msg)
	r.SetReply(q)
	r.RecursionAvailable = true
	if q.IsEdns0() != nil {
		r.SetEdns0(ednsSize, false)
	}
	return r
}

// servfail is a SERVFAIL reply to q.
func servfail(q *mdns.Msg) *mdns.Msg {
	r := newReply(q)
	r.Rcode = mdns.RcodeServerFailure
	return r
}

// answerLocal answers q from the Resolver, or returns nil when the name is
// not local (and the query is to be forwarded). A known name gets an
// authoritative NOERROR: its A records for A (and ANY) queries, no answer
// for other types. A reverse (PTR) name of a local address gets its names.
func (s *Server) answerLocal(q *mdns.Msg) *mdns.Msg {
	if s.resolver == nil {
		return nil
	}
	qq := q.Question[0]
	if qq.Qclass != mdns.ClassINET && qq.Qclass != mdns.ClassANY {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(qq.Name, "."))
	if name == "" {
		return nil
	}
	if addr, ok := parseReverse(name); ok {
		if qq.Qtype != mdns.TypePTR && qq.Qtype != mdns.TypeANY {
			return nil
		}
		names := s.resolver.LookupPTR(addr)
		if len(names) == 0 {
			return nil
		}
		r := newReply(q)
		r.Authoritative = true
		for _, n := range names {
			ptr := mdns.Fqdn(strings.TrimSuffix(n, "."))
			if _, ok := mdns.IsDomainName(ptr); !ok {
				continue
			}
			r.Answer = append(r.Answer, &mdns.PTR{Hdr: rrHeader(qq.Name, mdns.TypePTR), Ptr: ptr})
		}
		return r
	}
	addrs, known := s.resolver.LookupA(name)
	if !known {
		return nil
	}
	r := newReply(q)
	r.Authoritative = true
	if qq.Qtype == mdns.TypeA || qq.Qtype == mdns.TypeANY {
		for _, a := range addrs {
			if a = a.Unmap(); !a.Is4() {
				continue
			}
			ip := a.As4()
			r.Answer = append(r.Answer, &mdns.A{Hdr: rrHeader(qq.Name, mdns.TypeA), A: ip[:]})
		}
	}
	return r
}

// rrHeader is the header of a local answer record for name.
func rrHeader(name string, typ uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: typ, Class: mdns.ClassINET, Ttl: localTTL}
}

// parseReverse returns the address a reverse-lookup name (lowercase, no
// trailing dot) stands for: d.c.b.a.in-addr.arpa, or the 32 nibbles of
// an ip6.arpa name.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		var ip [4]byte
		for i, l := range labels {
			if len(l) == 0 || len(l) > 3 || (len(l) > 1 && l[0] == '0') {
				return netip.Addr{}, false
			}
			n, err := strconv.ParseUint(l, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			ip[3-i] = byte(n)
		}
		return netip.AddrFrom4(ip), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var ip [16]byte
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			n, err := strconv.ParseUint(l, 16, 4)
			if err != nil {
				return netip.Addr{}, false
			}
			nib := 31 - i // labels run from the last nibble to the first
			if nib%2 == 0 {
				ip[nib/2] |= byte(n) << 4
			} else {
				ip[nib/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(ip), true
	}
	return netip.Addr{}, false
}

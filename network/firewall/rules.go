package firewall

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Chain and set names in hull's table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPorts       = "ports"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	setBridges       = "bridges"
)

// Registers: NFT_REG_1 and NFT_REG_2 (16 bytes each).
const (
	reg1 = 1
	reg2 = 2
)

// ctStatusDNAT is IPS_DST_NAT, set on connections a DNAT rule changed.
const ctStatusDNAT = 1 << 5

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// build queues hull's chains, set and rules for st into conn, after the
// table t has been added.
func build(conn *nftables.Conn, t *nftables.Table, st State) error {
	// The set of every hull bridge, for the isolation rules. Its ID is
	// fixed (IDs only need to be unique within a batch) so the library's
	// process-wide ID counter is not touched.
	bridges := &nftables.Set{Table: t, Name: setBridges, ID: 1, KeyType: nftables.TypeIFName,
		KeyByteOrder: binaryutil.NativeEndian} // how nft shows an ifname set
	elems := make([]nftables.SetElement, 0, len(st.Networks))
	for _, n := range st.Networks {
		elems = append(elems, nftables.SetElement{Key: ifname(n.Bridge)})
	}
	if err := conn.AddSet(bridges, elems); err != nil {
		return fmt.Errorf("firewall: set %s: %w", setBridges, err)
	}

	accept := nftables.ChainPolicyAccept
	pre := conn.AddChain(&nftables.Chain{Table: t, Name: chainPrerouting, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	out := conn.AddChain(&nftables.Chain{Table: t, Name: chainOutput, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	ports := conn.AddChain(&nftables.Chain{Table: t, Name: chainPorts})
	post := conn.AddChain(&nftables.Chain{Table: t, Name: chainPostrouting, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	fwd := conn.AddChain(&nftables.Chain{Table: t, Name: chainForward, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})

	add := func(c *nftables.Chain, comment string, parts ...[]expr.Any) {
		var exprs []expr.Any
		for _, p := range parts {
			exprs = append(exprs, p...)
		}
		r := &nftables.Rule{Table: t, Chain: c, Exprs: exprs}
		if comment != "" {
			r.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
		}
		conn.AddRule(r)
	}

	// DNAT: anything addressed to a local address goes through "ports".
	add(pre, "", fibDaddrLocal(), verdict(expr.VerdictJump, chainPorts))
	add(out, "", fibDaddrLocal(), verdict(expr.VerdictJump, chainPorts))
	// Ports published on one address first, so they win over the same
	// port published on every address.
	for _, specific := range []bool{true, false} {
		for _, p := range st.Ports {
			ip := hostIP(p)
			if ip.IsUnspecified() == specific {
				continue
			}
			var match []expr.Any
			if !ip.IsUnspecified() {
				match = daddrIs(ip)
			}
			add(ports, portString(p), match, l4proto(p.Proto), dport(p.HostPort), dnat(p.ContainerIP, p.ContainerPort))
		}
	}

	// SNAT.
	for _, n := range st.Networks {
		if !n.Internal {
			add(post, "egress "+n.Bridge, saddrIn(n.Subnet), cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, ifname(n.Bridge)), masq())
		}
		add(post, "localhost to "+n.Bridge, cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifname(n.Bridge)), saddrIn(loopback), masq())
		add(post, "hairpin "+n.Bridge, cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifname(n.Bridge)), saddrIn(n.Subnet),
			ctBitsSet(expr.CtKeySTATUS, ctStatusDNAT), masq())
	}

	// Filtering.
	drop := verdict(expr.VerdictDrop, "")
	for _, n := range st.Networks {
		if n.Internal {
			br := ifname(n.Bridge)
			add(fwd, "internal "+n.Bridge, cmpMeta(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop)
			add(fwd, "internal "+n.Bridge, cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), cmpMeta(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), drop)
		}
	}
	add(fwd, "", ctBitsSet(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept, ""))
	add(fwd, "published ports", ctBitsSet(expr.CtKeySTATUS, ctStatusDNAT), verdict(expr.VerdictAccept, ""))
	for _, n := range st.Networks {
		if !n.Internal {
			br := ifname(n.Bridge)
			add(fwd, "isolate "+n.Bridge, cmpMeta(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), cmpMeta(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br),
				inSet(expr.MetaKeyOIFNAME, bridges, false), drop)
		}
	}
	if len(st.Networks) > 0 {
		add(fwd, "no routing into containers", inSet(expr.MetaKeyOIFNAME, bridges, false), inSet(expr.MetaKeyIIFNAME, bridges, true), drop)
	}
	return nil
}

// ifname is name as the kernel compares it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, ifNameSize)
	copy(b, name)
	return b
}

// cmpMeta is "meta key op data".
func cmpMeta(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg1},
		&expr.Cmp{Op: op, Register: reg1, Data: data},
	}
}

// inSet is "meta key [!=] @set".
func inSet(key expr.MetaKey, s *nftables.Set, invert bool) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg1},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, Invert: invert},
	}
}

// saddrIn is "ip saddr p".
func saddrIn(p netip.Prefix) []expr.Any {
	p = p.Masked()
	e := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}}
	if p.Bits() < 32 {
		e = append(e, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: net.CIDRMask(p.Bits(), 32), Xor: make([]byte, 4)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: p.Addr().AsSlice()})
}

// daddrIs is "ip daddr a".
func daddrIs(a netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: a.AsSlice()},
	}
}

// l4proto is "meta l4proto proto" for "tcp" or "udp".
func l4proto(proto string) []expr.Any {
	p := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		p = unix.IPPROTO_UDP
	}
	return cmpMeta(expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{p})
}

// dport is "th dport port".
func dport(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}

// ctBitsSet is "ct key & bits != 0" ("ct state established,related",
// "ct status dnat"); ct state and status are host-endian.
func ctBitsSet(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: key},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)},
	}
}

// fibDaddrLocal is "fib daddr type local".
func fibDaddrLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// dnat is "dnat to ip:port".
func dnat(ip netip.Addr, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: ip.AsSlice()},
		&expr.Immediate{Register: reg2, Data: binary.BigEndian.AppendUint16(nil, port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true},
	}
}

func masq() []expr.Any { return []expr.Any{&expr.Masq{}} }

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}

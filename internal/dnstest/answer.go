package dnstest

import (
	"net"
	"time"

	"github.com/miekg/dns"
)

const (
	// maxChain bounds the CNAME chain followed for one answer.
	maxChain = 16

	// defaultUDPSize is the UDP payload size the server advertises when
	// the query had no OPT record to echo (RFC 6891 section 6.2.5; 1232 is
	// the size DNS Flag Day 2020 settled on).
	defaultUDPSize = 1232
)

// outcome is the answer to a question, before it is written.
type outcome struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	mode   behaviour // of the zones consulted
	served bool      // from a zone, so authoritative
}

// serveDNS answers one query; the dns.Server calls it once per message.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, isUDP := w.RemoteAddr().(*net.UDPAddr)
	resp := new(dns.Msg)
	resp.SetReply(req)
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		resp.SetRcode(req, dns.RcodeNotImplemented)
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	network := "tcp"
	if isUDP {
		network = "udp"
	}
	s.logQuery(Query{Name: q.Name, Type: q.Qtype, Net: network})

	out := s.resolve(q.Name, q.Qtype)
	if out.mode.drop {
		return
	}
	if d := out.mode.delay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.done:
			return
		}
	}

	// The server presents itself as a recursive resolver would to a stub
	// (RFC 1035 section 4.1.1), and is authoritative for what it serves.
	resp.RecursionAvailable = true
	reqOPT := req.IsEdns0()
	if out.mode.fail != nil {
		// RFC 8914 section 2: the EDE travels in an OPT record, which is
		// added even if the query had none.
		resp.Rcode = dns.RcodeServerFailure
		opt := replyOPT(reqOPT)
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{
			InfoCode:  out.mode.fail.InfoCode,
			ExtraText: out.mode.fail.ExtraText,
		})
		resp.Extra = append(resp.Extra, opt)
	} else {
		resp.Rcode = out.rcode
		resp.Authoritative = out.served
		resp.Answer = out.answer
		resp.Ns = out.ns
		// RFC 4035 section 3.2.3: AD for data the resolver deems secure,
		// negative answers included. Unlike RFC 6840 section 5.7 asks, it
		// is set whether or not the query had DO or AD, so that every
		// client sees it.
		resp.AuthenticatedData = out.mode.secure && out.rcode != dns.RcodeServerFailure
		if reqOPT != nil {
			// RFC 6891 section 7: answer OPT with OPT.
			resp.Extra = append(resp.Extra, replyOPT(reqOPT))
		}
	}

	if isUDP {
		// RFC 1035 section 4.2.1 and RFC 6891 section 6.2.3: a UDP reply
		// must fit the requester's buffer; what does not fit is cut and
		// TC set, so the client retries over TCP (RFC 7766 section 5).
		limit := dns.MinMsgSize
		if reqOPT != nil {
			limit = max(limit, int(reqOPT.UDPSize()))
		}
		resp.Truncate(limit)
	} else {
		resp.Compress = true
	}
	_ = w.WriteMsg(resp)
}

// replyOPT returns the OPT record for a reply: the requester's UDP size and
// DO bit echoed (RFC 3225 section 3), or defaults if it sent no OPT.
func replyOPT(req *dns.OPT) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	size := uint16(defaultUDPSize)
	if req != nil {
		size = max(req.UDPSize(), dns.MinMsgSize)
		if req.Do() {
			opt.SetDo()
		}
	}
	opt.SetUDPSize(size)
	return opt
}

// resolve answers the question qname/qtype from the zones, following
// CNAMEs within them.
func (s *Server) resolve(qname string, qtype uint16) outcome {
	s.mu.RLock()
	defer s.mu.RUnlock()

	out := outcome{mode: behaviour{secure: true}}
	seen := make(map[string]bool)
	name := qname
	for step := 0; ; step++ {
		canon := dns.CanonicalName(name)
		if seen[canon] || step == maxChain {
			// A CNAME loop or an overlong chain: resolvers give up with
			// SERVFAIL (RFC 1034 section 3.6.2).
			out.rcode = dns.RcodeServerFailure
			out.mode.secure = false
			return out
		}
		seen[canon] = true

		z := s.zoneFor(canon)
		if z == nil {
			// Outside the served world: nothing exists there, and no
			// validator could prove it.
			out.rcode = dns.RcodeNameError
			out.mode.secure = false
			return out
		}
		if step == 0 {
			out.mode = z.mode
			out.served = true
		} else {
			out.mode.combine(z.mode)
		}

		rrs, exists := z.lookup(canon, name)
		if !exists {
			// RFC 2308 section 2.1: NXDOMAIN with the zone's SOA. After a
			// CNAME, the RCODE is that of the last name (RFC 6604
			// section 2).
			out.rcode = dns.RcodeNameError
			out.ns = []dns.RR{z.negativeSOA()}
			return out
		}
		var cname *dns.CNAME
		matched := false
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == qtype || qtype == dns.TypeANY {
				out.answer = append(out.answer, rr)
				matched = true
			}
			if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if matched {
			out.rcode = dns.RcodeSuccess
			return out
		}
		if cname == nil {
			// RFC 2308 section 2.2: NODATA, NOERROR with the SOA. This
			// covers empty non-terminals too (RFC 8020 section 2).
			out.rcode = dns.RcodeSuccess
			out.ns = []dns.RR{z.negativeSOA()}
			return out
		}
		// RFC 1034 section 3.6.2: give the CNAME and restart at its
		// target.
		out.answer = append(out.answer, cname)
		name = cname.Target
	}
}

// zoneFor returns the zone with the longest origin that name (canonical)
// falls under, or nil.
func (s *Server) zoneFor(name string) *zone {
	for n := name; n != ""; n = parent(n) {
		if z := s.zones[n]; z != nil {
			return z
		}
	}
	return nil
}

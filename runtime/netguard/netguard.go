// Package netguard keeps flowbot's outgoing HTTP requests away from
// addresses they must not reach (server-side request forgery, SSRF).
//
// A flow's HTTP step URL is a template that may contain what a contact
// typed, and a Chat API webhook URL is chosen by an API client: left alone,
// either could make flowbot call 127.0.0.1:6379, a service on the private
// network, or the cloud metadata service at 169.254.169.254 — and hand the
// answer back. A Policy says which addresses are allowed: by default only
// public ones, plus what the operator allows (ParsePolicy: the
// --allow-network flag, FLOWBOT_ALLOW_NETWORK).
//
// The check is made on the address actually dialled, after DNS resolution,
// in the net.Dialer's Control function (Policy.Control). A host name that
// resolves to a private address, a DNS answer that changes between a check
// and the connection (rebinding), and a redirect from an allowed host to a
// forbidden one are all refused, because each connection is checked when it
// is made. IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) are checked as the
// IPv4 address they are; NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses as the IPv4 address they embed.
//
// The guarded transports (Policy.Transport) ignore HTTP_PROXY and
// HTTPS_PROXY: through a proxy the dialer would see, and check, only the
// proxy's address, and the proxy would reach whatever the URL names. Only a
// policy that allows everything ("all") uses the environment's proxy, since
// it has nothing to guard.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Flag and EnvVar name the flowbot serve option that sets the policy; the
// refusal errors tell the operator to use them.
const (
	Flag   = "allow-network"
	EnvVar = "FLOWBOT_ALLOW_NETWORK"
)

// Client labels of flowbot's guarded HTTP clients, as reported to an
// Observer (and in the metric flowbot_ssrf_refused_total{client}).
const (
	// ClientHTTPStep is the client of the flows' HTTP steps (runtime/httpjob).
	ClientHTTPStep = "http_step"
	// ClientWebhook is the client of Chat API webhook deliveries
	// (runtime/delivery).
	ClientWebhook = "webhook"
)

// Class is the kind of an IP address, as far as the guard is concerned.
type Class uint8

// Classes of addresses. Everything but Public is refused unless allowed.
const (
	// Public: a global unicast address.
	Public Class = iota
	// Loopback: 127.0.0.0/8, ::1.
	Loopback
	// Private: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), the
	// unique local fc00::/7 and the deprecated site-local fec0::/10.
	Private
	// LinkLocal: 169.254.0.0/16 (with the cloud metadata service at
	// 169.254.169.254), fe80::/10.
	LinkLocal
	// CGNAT: the shared address space 100.64.0.0/10 (RFC 6598) of carrier
	// NAT and of overlay networks such as Tailscale.
	CGNAT
	// Unspecified: 0.0.0.0/8 and :: (connecting to 0.0.0.0 reaches the
	// local host).
	Unspecified
	// Multicast: 224.0.0.0/4, ff00::/8.
	Multicast
	// Reserved: every other address that is not global unicast:
	// documentation and benchmarking ranges, 240.0.0.0/4 and the broadcast
	// address, IETF protocol assignments, IPv6 outside 2000::/3.
	Reserved
	numClasses
)

var classNames = [numClasses]string{"public", "loopback", "private", "link-local", "cgnat", "unspecified", "multicast", "reserved"}

// String names the class; for the classes that have one, the name is the
// keyword that allows it in ParsePolicy.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Keyword is the ParsePolicy keyword that allows the class, or "" when
// there is none (allow such addresses by CIDR).
func (c Class) Keyword() string {
	switch c {
	case Loopback, Private, LinkLocal, CGNAT:
		return c.String()
	}
	return ""
}

// keywords are the entries of an allow list that name classes.
var keywords = map[string]Class{"loopback": Loopback, "private": Private, "link-local": LinkLocal, "cgnat": CGNAT}

type classRange struct {
	prefix netip.Prefix
	class  Class
}

// v4Ranges classify IPv4 addresses; an address in none is Public.
var v4Ranges = []classRange{
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), CGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved},   // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), Reserved},   // documentation (TEST-NET-1)
	{netip.MustParsePrefix("192.88.99.0/24"), Reserved}, // 6to4 relay anycast (deprecated)
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},   // benchmarking
	{netip.MustParsePrefix("198.51.100.0/24"), Reserved}, // documentation (TEST-NET-2)
	{netip.MustParsePrefix("203.0.113.0/24"), Reserved},  // documentation (TEST-NET-3)
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved}, // future use, and 255.255.255.255
}

// v6Ranges classify IPv6 addresses (IPv4-mapped ones are unmapped first);
// an address in none is Public if in 2000::/3, else Reserved.
var v6Ranges = []classRange{
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("fc00::/7"), Private},
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("fec0::/10"), Private}, // site-local (deprecated)
	{netip.MustParsePrefix("ff00::/8"), Multicast},
	{netip.MustParsePrefix("2001::/23"), Reserved},     // IETF protocol assignments (Teredo, ORCHID…)
	{netip.MustParsePrefix("2001:db8::/32"), Reserved}, // documentation
	{netip.MustParsePrefix("3fff::/20"), Reserved},     // documentation (RFC 9637)
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	metadataV4     = netip.MustParseAddr("169.254.169.254")
)

// Classify says what kind of address ip is. IPv4-mapped IPv6 addresses are
// classified as their IPv4 address, NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) ones as the IPv4 address they embed. An invalid address is
// Reserved.
func Classify(ip netip.Addr) Class {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return Reserved
	case ip.Is4():
		for _, r := range v4Ranges {
			if r.prefix.Contains(ip) {
				return r.class
			}
		}
		return Public
	case nat64.Contains(ip):
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	if globalUnicast6.Contains(ip) {
		return Public
	}
	return Reserved
}

// Observer is told about every refused connection; runtime/metrics
// implements it. It is called concurrently.
type Observer interface {
	// AddressRefused counts a refusal by the guarded client that made it
	// (ClientHTTPStep, ClientWebhook, or the name given to Transport).
	AddressRefused(client string, err *RefusedError)
}

// ObserverFunc adapts a function to an Observer.
type ObserverFunc func(client string, err *RefusedError)

// AddressRefused calls f.
func (f ObserverFunc) AddressRefused(client string, err *RefusedError) { f(client, err) }

// Policy says which addresses outgoing connections may reach: public
// addresses always, others only when allowed. A nil *Policy is the default
// policy, which allows public addresses only. A Policy is safe for
// concurrent use; build it with ParsePolicy.
type Policy struct {
	all      bool
	classes  [numClasses]bool
	prefixes []netip.Prefix
	text     string
	obs      Observer

	mu         sync.Mutex
	transports map[string]*http.Transport
}

// defaultPolicy is what a nil *Policy stands for.
var defaultPolicy = &Policy{}

func (p *Policy) get() *Policy {
	if p == nil {
		return defaultPolicy
	}
	return p
}

// ParsePolicy reads an allow list: comma-separated entries, each a keyword
// or an address range.
//
//	loopback     127.0.0.0/8, ::1
//	private      10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7, fec0::/10
//	link-local   169.254.0.0/16 (the cloud metadata service too), fe80::/10
//	cgnat        100.64.0.0/10
//	all          every address: no guard at all
//	10.1.2.0/24  a CIDR (an IPv4-mapped one, ::ffff:10.1.2.0/120, is read as IPv4)
//	10.1.2.3     a single address
//
// Public addresses are always allowed; the empty list allows nothing else.
// Keywords are case-insensitive; spaces around entries are ignored.
func ParsePolicy(allow string) (*Policy, error) {
	p := &Policy{}
	var texts []string
	for entry := range strings.SplitSeq(allow, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		kw := strings.ToLower(entry)
		if kw == "all" {
			p.all = true
			texts = append(texts, kw)
			continue
		}
		if c, ok := keywords[kw]; ok {
			p.classes[c] = true
			texts = append(texts, kw)
			continue
		}
		pfx, err := parsePrefix(entry)
		if err != nil {
			return nil, err
		}
		p.prefixes = append(p.prefixes, pfx)
		texts = append(texts, pfx.String())
	}
	slices.Sort(texts)
	p.text = strings.Join(slices.Compact(texts), ",")
	return p, nil
}

// MustParsePolicy is ParsePolicy for lists known to be valid (tests,
// constants); it panics on an error.
func MustParsePolicy(allow string) *Policy {
	p, err := ParsePolicy(allow)
	if err != nil {
		panic(err)
	}
	return p
}

func parsePrefix(entry string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if strings.Contains(entry, "/") {
		var err error
		if pfx, err = netip.ParsePrefix(entry); err != nil {
			return pfx, fmt.Errorf("network allow list: %q is not a valid CIDR (like 10.0.0.0/8 or fd00::/8): %v", entry, unwrapParse(err))
		}
	} else if ip, err := netip.ParseAddr(entry); err == nil {
		if ip.Zone() != "" {
			return pfx, fmt.Errorf("network allow list: %q: give the address without its zone (%%%s)", entry, ip.Zone())
		}
		pfx = netip.PrefixFrom(ip, ip.BitLen())
	} else {
		msg := fmt.Sprintf("network allow list: unknown entry %q", entry)
		if s := suggest(strings.ToLower(entry)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return pfx, errors.New(msg + "; give loopback, private, link-local, cgnat, all, an address, or a CIDR like 10.0.0.0/8, separated by commas")
	}
	if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), nil
}

// unwrapParse drops the `netip.ParsePrefix("…"): ` the entry is already quoted in.
func unwrapParse(err error) string {
	s := err.Error()
	if i := strings.Index(s, "): "); i >= 0 {
		return s[i+3:]
	}
	return s
}

// suggest returns the keyword closest to s, if it is a likely typo.
func suggest(s string) string {
	best, bestD := "", 3
	for _, k := range []string{"loopback", "private", "link-local", "cgnat", "all"} {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// String is the policy's allow list in canonical form (sorted, without
// duplicates): "" for public addresses only, "all", or e.g.
// "10.0.0.0/8,loopback". ParsePolicy reads it back.
func (p *Policy) String() string { return p.get().text }

// AllowsAll reports whether the policy allows every address (no guard).
func (p *Policy) AllowsAll() bool { return p.get().all }

// Allowed reports whether connections to ip may be made: ip is public, or
// its class or a CIDR of the policy allows it. IPv4-mapped addresses are
// checked as IPv4. An invalid address is not allowed.
func (p *Policy) Allowed(ip netip.Addr) bool {
	p = p.get()
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	if p.all {
		return true
	}
	if c := Classify(ip); c == Public || p.classes[c] {
		return true
	}
	for _, pfx := range p.prefixes {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// Check returns a *RefusedError when the policy does not allow addr, nil
// when it does.
func (p *Policy) Check(addr netip.AddrPort) error {
	ip := addr.Addr().Unmap().WithZone("")
	if p.Allowed(ip) {
		return nil
	}
	return &RefusedError{Addr: netip.AddrPortFrom(ip, addr.Port()), Class: Classify(ip)}
}

// Control checks the address a net.Dialer is about to connect to (after
// DNS resolution) and refuses it with a *RefusedError unless the policy
// allows it; it has the signature of net.Dialer.Control. Refusals are
// reported to the policy's Observer with an empty client name.
func (p *Policy) Control(network, address string, c syscall.RawConn) error {
	return p.get().control("")(network, address, c)
}

func (p *Policy) control(client string) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if p.all {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			// Not an IP address and port (a unix socket): nothing the guard
			// can vouch for.
			return fmt.Errorf("refusing to connect to %s over %s: not an IP address", address, network)
		}
		err = p.Check(ap)
		if re, ok := err.(*RefusedError); ok && p.obs != nil {
			p.obs.AddressRefused(client, re)
		}
		return err
	}
}

// Dialer returns a net.Dialer that connects only to addresses the policy
// allows (see Control), with the timeouts of http.DefaultTransport's.
func (p *Policy) Dialer() *net.Dialer { return p.get().dialer("") }

func (p *Policy) dialer(client string) *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.control(client)}
}

// Transport returns the guarded transport of the named client, made on
// first use and shared afterwards (with its connection pool); refusals
// are reported to the Observer under that name. It must not be modified:
// use NewTransport for a transport of your own.
func (p *Policy) Transport(client string) http.RoundTripper {
	p = p.get()
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.transports[client]
	if !ok {
		if p.transports == nil {
			p.transports = map[string]*http.Transport{}
		}
		t = p.NewTransport(client)
		p.transports[client] = t
	}
	return t
}

// NewTransport returns a new guarded transport: http.DefaultTransport's
// settings, a pool sized for many parallel requests to the same few hosts
// (512 idle connections, 64 per host), a dialer that connects only to
// addresses the policy allows, and no proxy (unless the policy allows
// all: see the package documentation). Refusals are reported to the
// Observer under the client name.
func (p *Policy) NewTransport(client string) *http.Transport {
	p = p.get()
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 64
	if !p.all {
		t.Proxy = nil
		t.DialContext = p.dialer(client).DialContext
	}
	return t
}

// CloseIdleConnections closes the idle connections of the transports
// Transport made; they stay usable.
func (p *Policy) CloseIdleConnections() {
	p = p.get()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}

// Client returns an http.Client over the shared guarded transport of the
// named client (Transport), with the given overall timeout (0: none). It
// follows redirects as http.Client does: every connection a redirect
// makes is checked too.
func (p *Policy) Client(client string, timeout time.Duration) *http.Client {
	return &http.Client{Transport: p.Transport(client), Timeout: timeout}
}

// WithObserver returns a copy of the policy (the default one for nil) that
// reports refusals to o. The copy has transports of its own.
func (p *Policy) WithObserver(o Observer) *Policy {
	p = p.get()
	return &Policy{all: p.all, classes: p.classes, prefixes: p.prefixes, text: p.text, obs: o}
}

// RefusedError is the error of a connection the policy refused. The dial
// fails with it (wrapped in a *net.OpError and, from an http.Client, a
// *url.Error): find it with errors.As.
type RefusedError struct {
	// Addr is the address refused (an IPv4-mapped one as IPv4).
	Addr netip.AddrPort
	// Class is its kind.
	Class Class
}

// Allow is the allow-list entry that would let the address through: the
// class's keyword, or else the single address as a CIDR.
func (e *RefusedError) Allow() string {
	if k := e.Class.Keyword(); k != "" {
		return k
	}
	ip := e.Addr.Addr()
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// Error says what was refused and how to allow it, e.g.
//
//	refusing to connect to 127.0.0.1:8080 (loopback): allow it with --allow-network loopback (or FLOWBOT_ALLOW_NETWORK=loopback)
func (e *RefusedError) Error() string {
	what := e.Class.String()
	if e.Addr.Addr() == metadataV4 {
		what += ", the cloud metadata service"
	}
	allow := e.Allow()
	return fmt.Sprintf("refusing to connect to %s (%s): allow it with --%s %s (or %s=%s)", e.Addr, what, Flag, allow, EnvVar, allow)
}

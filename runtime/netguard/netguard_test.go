package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"1.1.1.1", Public},
		{"93.184.216.34", Public},
		{"2606:4700:4700::1111", Public},
		{"2a00:1450:4001:80b::200e", Public},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"::ffff:127.0.0.1", Loopback}, // IPv4-mapped
		{"10.0.0.1", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"172.32.0.1", Public},
		{"192.168.1.1", Private},
		{"::ffff:192.168.1.1", Private},
		{"fd00::1", Private},
		{"fc00::1", Private},
		{"fd00:ec2::254", Private}, // the AWS metadata service over IPv6
		{"fec0::1", Private},
		{"169.254.169.254", LinkLocal}, // cloud metadata
		{"::ffff:169.254.169.254", LinkLocal},
		{"169.254.0.1", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"100.64.0.1", CGNAT},
		{"100.127.255.255", CGNAT},
		{"100.128.0.1", Public},
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"ff02::1", Multicast},
		{"255.255.255.255", Reserved},
		{"240.0.0.1", Reserved},
		{"192.0.2.1", Reserved},
		{"198.51.100.7", Reserved},
		{"203.0.113.9", Reserved},
		{"198.18.0.1", Reserved},
		{"192.0.0.8", Reserved},
		{"2001:db8::1", Reserved},
		{"2001::1", Reserved}, // Teredo
		{"100::1", Reserved},  // discard-only
		{"::127.0.0.1", Reserved},
		{"64:ff9b::7f00:1", Loopback}, // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", LinkLocal},
		{"64:ff9b::808:808", Public},
		{"2002:7f00:1::1", Loopback}, // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", Private},
		{"2002:808:808::1", Public},
	} {
		if got := Classify(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Classify(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Reserved {
		t.Errorf("Classify(invalid) = %v", got)
	}
}

func TestAllowed(t *testing.T) {
	policies := []string{"", "loopback", "private", "link-local", "cgnat", "10.1.0.0/16, 2001:db8::/32", "::ffff:10.2.0.0/112", "192.0.2.7", "loopback,private,link-local,cgnat", "all"}
	// Which of the policies above allow each address, as a string of 0 and 1.
	for _, c := range []struct {
		ip   string
		want string
	}{
		{"8.8.8.8", "1111111111"},
		{"2606:4700:4700::1111", "1111111111"},
		{"127.0.0.1", "0100000011"},
		{"::1", "0100000011"},
		{"::ffff:127.0.0.1", "0100000011"},
		{"64:ff9b::7f00:1", "0100000011"},
		{"10.0.0.1", "0010000011"},
		{"10.1.2.3", "0010010011"},
		{"::ffff:10.1.2.3", "0010010011"},
		{"10.2.3.4", "0010001011"},
		{"192.168.0.1", "0010000011"},
		{"fd00::1", "0010000011"},
		{"169.254.169.254", "0001000011"},
		{"::ffff:169.254.169.254", "0001000011"},
		{"fe80::1%eth0", "0001000011"},
		{"100.64.0.1", "0000100011"},
		{"0.0.0.0", "0000000001"},
		{"::", "0000000001"},
		{"224.0.0.1", "0000000001"},
		{"ff02::1", "0000000001"},
		{"192.0.2.7", "0000000101"},
		{"192.0.2.8", "0000000001"},
		{"2001:db8::5", "0000010001"},
	} {
		ip := netip.MustParseAddr(c.ip)
		var got strings.Builder
		for _, allow := range policies {
			if MustParsePolicy(allow).Allowed(ip) {
				got.WriteByte('1')
			} else {
				got.WriteByte('0')
			}
		}
		if got.String() != c.want {
			t.Errorf("%s allowed by %q: %s, want %s", c.ip, policies, got.String(), c.want)
		}
	}
	var nilPolicy *Policy // the default: public only
	if !nilPolicy.Allowed(netip.MustParseAddr("8.8.8.8")) || nilPolicy.Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("the nil policy is not public-only")
	}
	if MustParsePolicy("all").Allowed(netip.Addr{}) {
		t.Error("an invalid address is allowed")
	}
}

func TestParsePolicy(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{" , ", ""},
		{"Loopback", "loopback"},
		{"private, loopback,private", "loopback,private"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"10.1.2.3", "10.1.2.3/32"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"fd00::/8,LINK-LOCAL,cgnat", "cgnat,fd00::/8,link-local"},
		{"ALL", "all"},
	} {
		p, err := ParsePolicy(c.in)
		if err != nil {
			t.Errorf("ParsePolicy(%q): %v", c.in, err)
			continue
		}
		if p.String() != c.want {
			t.Errorf("ParsePolicy(%q) = %q, want %q", c.in, p.String(), c.want)
		}
		if again, _ := ParsePolicy(p.String()); again.String() != p.String() {
			t.Errorf("ParsePolicy(%q) does not read its String back", c.in)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"loopbak", `network allow list: unknown entry "loopbak" (did you mean "loopback"?); give loopback, private, link-local, cgnat, all, an address, or a CIDR like 10.0.0.0/8, separated by commas`},
		{"linklocal", `(did you mean "link-local"?)`},
		{"public", `unknown entry "public"`},
		{"10.0.0.0/33", `network allow list: "10.0.0.0/33" is not a valid CIDR (like 10.0.0.0/8 or fd00::/8): prefix length out of range`},
		{"10.0.0/8", `"10.0.0/8" is not a valid CIDR`},
		{"fe80::1%eth0", `"fe80::1%eth0": give the address without its zone (%eth0)`},
		{"loopback;private", `unknown entry "loopback;private"`},
	} {
		_, err := ParsePolicy(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePolicy(%q) = %v, want an error with %q", c.in, err, c.want)
		}
	}
	if (*Policy)(nil).String() != "" || (*Policy)(nil).AllowsAll() || !MustParsePolicy("all").AllowsAll() {
		t.Error("String or AllowsAll of the defaults")
	}
}

func TestRefusedError(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "refusing to connect to 127.0.0.1:8080 (loopback): allow it with --allow-network loopback (or FLOWBOT_ALLOW_NETWORK=loopback)"},
		{"[::ffff:10.0.0.5]:443", "refusing to connect to 10.0.0.5:443 (private): allow it with --allow-network private (or FLOWBOT_ALLOW_NETWORK=private)"},
		{"169.254.169.254:80", "refusing to connect to 169.254.169.254:80 (link-local, the cloud metadata service): allow it with --allow-network link-local (or FLOWBOT_ALLOW_NETWORK=link-local)"},
		{"100.100.100.100:53", "refusing to connect to 100.100.100.100:53 (cgnat): allow it with --allow-network cgnat (or FLOWBOT_ALLOW_NETWORK=cgnat)"},
		{"0.0.0.0:80", "refusing to connect to 0.0.0.0:80 (unspecified): allow it with --allow-network 0.0.0.0/32 (or FLOWBOT_ALLOW_NETWORK=0.0.0.0/32)"},
		{"[2001:db8::1]:80", "refusing to connect to [2001:db8::1]:80 (reserved): allow it with --allow-network 2001:db8::1/128 (or FLOWBOT_ALLOW_NETWORK=2001:db8::1/128)"},
	} {
		err := (*Policy)(nil).Check(netip.MustParseAddrPort(c.addr))
		if err == nil || err.Error() != c.want {
			t.Errorf("Check(%s) = %v\nwant %s", c.addr, err, c.want)
		}
		// Allowing what the error says lets the address through.
		var re *RefusedError
		if !errors.As(err, &re) || MustParsePolicy(re.Allow()).Check(netip.MustParseAddrPort(c.addr)) != nil {
			t.Errorf("%s: allowing %q does not let it through", c.addr, re.Allow())
		}
	}
}

// TestControl checks the function the dialer calls with the resolved
// address: whatever name the URL had, this is the address connected to.
func TestControl(t *testing.T) {
	var got []string
	var mu sync.Mutex
	p := MustParsePolicy("private").WithObserver(ObserverFunc(func(client string, err *RefusedError) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, client+" "+err.Addr.String())
	}))
	for _, c := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "93.184.216.34:443", true},
		{"tcp4", "10.0.0.5:80", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::ffff:127.0.0.1]:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp4", "169.254.169.254:80", false},
		{"unix", "/var/run/docker.sock", false},
	} {
		err := p.Control(c.network, c.address, nil)
		if (err == nil) != c.ok {
			t.Errorf("Control(%s, %s) = %v", c.network, c.address, err)
		}
	}
	mu.Lock()
	want := []string{" 127.0.0.1:80", " 127.0.0.1:80", " [::1]:80", " [fe80::1]:80", " 169.254.169.254:80"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("observed %q, want %q", got, want)
	}
	mu.Unlock()
	if err := MustParsePolicy("all").Control("unix", "/tmp/x.sock", nil); err != nil {
		t.Errorf("all: %v", err)
	}
}

// TestDial: a real connection to a loopback server is refused by default,
// before anything is sent, and made when loopback is allowed.
func TestDial(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()

	_, err := (*Policy)(nil).Dialer().DialContext(ctx, "tcp", addr)
	var re *RefusedError
	if !errors.As(err, &re) || re.Class != Loopback || re.Addr.String() != addr {
		t.Fatalf("default dial: %v", err)
	}
	conn, err := MustParsePolicy("loopback").Dialer().DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	conn.Close()

	// Through an http.Client: the error comes back wrapped, findable.
	var refusals atomic.Int32
	p := MustParsePolicy("").WithObserver(ObserverFunc(func(client string, _ *RefusedError) {
		if client == "test" {
			refusals.Add(1)
		}
	}))
	_, err = p.Client("test", 0).Get(srv.URL)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "allow it with --allow-network loopback") {
		t.Errorf("default client: %v", err)
	}
	// A name is resolved, then its address checked.
	_, port, _ := net.SplitHostPort(addr)
	if _, err := p.Client("test", 0).Get("http://localhost:" + port + "/"); !errors.As(err, &re) || re.Class != Loopback {
		t.Errorf("localhost: %v", err)
	}
	if n := refusals.Load(); n < 2 {
		t.Errorf("%d refusals observed", n)
	}
	if hits.Load() != 0 {
		t.Fatalf("the server got %d requests", hits.Load())
	}
	resp, err := MustParsePolicy("loopback").Client("test", 0).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("the server got %d requests", hits.Load())
	}
	// The transport of a name is shared; a new one is not.
	if p.Transport("a") != p.Transport("a") || p.Transport("a") == p.Transport("b") {
		t.Error("Transport does not share by name")
	}
	if tr := p.NewTransport("a"); tr.Proxy != nil || tr.DialContext == nil {
		t.Error("a guarded transport uses a proxy, or no guarded dialer")
	}
	if tr := MustParsePolicy("all").NewTransport("a"); tr.Proxy == nil {
		t.Error("an unguarded transport ignores the environment's proxy")
	}
}

// TestRebinding: the name a URL gives is resolved when the connection is
// made, and the address it resolves to then is checked — a public-looking
// name that resolves to loopback (DNS rebinding) is refused; a redirect from
// an allowed host to a forbidden one too.
func TestRebinding(t *testing.T) {
	var hits atomic.Int32
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer inner.Close()
	innerAddr := strings.TrimPrefix(inner.URL, "http://")
	p := MustParsePolicy("")
	// A transport whose "DNS" resolves every name to the loopback server.
	tr := p.NewTransport("test")
	dial := p.Dialer()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial.DialContext(ctx, network, innerAddr)
	}
	_, err := (&http.Client{Transport: tr}).Get("http://api.example.com/")
	var re *RefusedError
	if !errors.As(err, &re) || re.Addr.String() != innerAddr {
		t.Errorf("rebound name: %v", err)
	}

	// A redirect: the first host (a public-looking name) is allowed by the
	// policy's CIDR, the redirect's target (the IPv6 loopback) is not.
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	inner6 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	inner6.Listener.Close()
	inner6.Listener = ln
	inner6.Start()
	defer inner6.Close()
	outer := httptest.NewServer(http.RedirectHandler(inner6.URL+"/admin", http.StatusFound))
	defer outer.Close()
	outerAddr := strings.TrimPrefix(outer.URL, "http://")
	p = MustParsePolicy("127.0.0.1/32") // stands for the public host
	tr = p.NewTransport("test")
	dial = p.Dialer()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "public.example.com:80" {
			return dial.DialContext(ctx, network, outerAddr)
		}
		return dial.DialContext(ctx, network, addr)
	}
	_, err = (&http.Client{Transport: tr}).Get("http://public.example.com/")
	if !errors.As(err, &re) || re.Class != Loopback || re.Addr.Addr() != netip.MustParseAddr("::1") {
		t.Errorf("redirect to loopback: %v", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the inner servers got %d requests", hits.Load())
	}
}

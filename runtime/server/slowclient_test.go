package server_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/server"
)

// TestSlowClientsCannotHoldTheServer: many connections that send half a
// request and stall are closed by the server's timeouts, and meanwhile a
// normal webhook call is answered at once.
func TestSlowClientsCannotHoldTheServer(t *testing.T) {
	r := serve(t, server.Config{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}, nil)
	defer r.stop()
	addr := strings.TrimPrefix(r.url, "http://")
	const slow = 200
	conns := make([]net.Conn, 0, slow)
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Half the headers (slowloris), or all headers and half the body.
		if i%2 == 0 {
			io.WriteString(c, "POST /bots/webshop/webhook HTTP/1.1\r\nHost: x\r\n")
		} else {
			io.WriteString(c, "POST /bots/webshop/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"info\":")
		}
		conns = append(conns, c)
	}
	start := time.Now()
	resp, err := http.Post(r.url+"/bots/webshop/webhook", "application/json",
		strings.NewReader(`{"info":{"cid":"c1"},"packet":{"name":"start","payload":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d while slow clients wait", resp.StatusCode)
	}
	t.Logf("answered in %s with %d stalled connections open", time.Since(start), slow)
	// Every stalled connection is closed by the server (a read returns,
	// with EOF or a 408/400 answer), well before the test's deadline.
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(wait))
		b, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection %d still open after %s", i, wait)
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4") {
			t.Fatalf("connection %d got %q", i, b)
		}
	}
}

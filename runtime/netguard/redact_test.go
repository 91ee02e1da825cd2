package netguard

import (
	"errors"
	"net/url"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://orders.example.com/orders/ADA-42?token=x": "https://orders.example.com/…",
		"https://user:pw@orders.example.com":               "https://orders.example.com",
		"http://127.0.0.1:8080/":                           "http://127.0.0.1:8080",
		"http://127.0.0.1:8080#frag":                       "http://127.0.0.1:8080/…",
		"not a url":                                        "(a URL that does not parse)",
		"http://[::1":                                      "(a URL that does not parse)",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
	err := &url.Error{Op: "Get", URL: "https://h.example/p/SECRET?q=1", Err: errors.New("connection refused")}
	if got := RequestError(err); got != `Get "https://h.example/…": connection refused` {
		t.Errorf("RequestError = %q", got)
	}
	if got := RequestError(errors.New("plain")); got != "plain" {
		t.Errorf("RequestError = %q", got)
	}
}

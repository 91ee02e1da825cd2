package netguard

import (
	"errors"
	"net/url"
)

// RedactURL is how a URL appears in a log line or a stored error: its
// scheme and host only ("https://orders.example.com/…"). The path and the
// query of a flow's HTTP step are templates that may carry what a contact
// typed (an order number, an email address) or a token, and userinfo is a
// password.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a URL that does not parse)"
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		s += "/…"
	}
	return s
}

// RequestError describes an error of an outgoing request with its URL
// redacted (RedactURL): `Get "https://orders.example.com/…": connection
// refused`. Errors that carry no URL are returned as they are.
func RequestError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return (&url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}).Error()
	}
	return err.Error()
}

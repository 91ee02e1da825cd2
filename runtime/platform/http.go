package platform

// HTTP plumbing of the Chat API: authentication, JSON errors and bodies,
// and the checks of request fields.

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/flowbot/flowbot/runtime/netguard"
)

func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.insecure {
			next.ServeHTTP(w, r)
			return
		}
		if len(a.keys) == 0 {
			writeError(w, http.StatusUnauthorized, "", "the Chat API has no API keys configured: start flowbot serve with FLOWBOT_API_KEYS=<key> and send Authorization: Bearer <key>")
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, http.StatusUnauthorized, "", "missing API key: send Authorization: Bearer <key>")
			return
		}
		match := 0
		for _, k := range a.keys {
			match |= subtle.ConstantTimeCompare(k, []byte(strings.TrimSpace(token)))
		}
		if match != 1 {
			writeError(w, http.StatusUnauthorized, "", "invalid API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiError is the body of every error answer.
type apiError struct {
	Error struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	var e apiError
	e.Error.Status, e.Error.Message, e.Error.Field = status, msg, field
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":{"status":500,"message":"cannot encode the answer"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fieldError is a request that decoded but is invalid.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func invalid(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body into v: at most MaxBodyBytes, one object, no
// unknown fields. It writes the error answer and returns false on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "cannot read the request body: "+err.Error())
		return false
	}
	if len(body) > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := "invalid JSON: " + jsonMessage(err)
		// The body is read as JSON whatever its Content-Type (curl -d sends
		// application/x-www-form-urlencoded); say so when that may be why.
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
			msg += " (the body must be JSON; it was sent as " + ct + ")"
		}
		writeError(w, http.StatusBadRequest, jsonField(err), msg)
		return false
	}
	// Only JSON whitespace may follow the value (dec.More alone lets a
	// stray } or ] through).
	if rest := strings.TrimLeft(string(body[dec.InputOffset():]), " \t\r\n"); rest != "" {
		msg := "invalid JSON: more than one value in the body"
		if !dec.More() {
			msg = fmt.Sprintf("invalid JSON: unexpected %q after the value", rest[:1])
		}
		writeError(w, http.StatusBadRequest, "", msg)
		return false
	}
	return true
}

// jsonField names the field a decoding error is about, if it can tell.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(f, `"`)
	}
	return ""
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + f
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty; send a JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a number"
}

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(field, "required")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(field, "contains the NUL character (U+0000)") // PostgreSQL cannot store it
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "%d characters; at most %d", n, max)
	}
	return nil
}

// storable tells whether an id from a request's path can name anything
// stored: text is valid UTF-8 without NUL (PostgreSQL refuses any other,
// which must be a 404, not a 503).
func storable(id string) bool { return utf8.ValidString(id) && strings.IndexByte(id, 0) < 0 }

func checkURL(field, s string) error {
	if len(s) > MaxURLChars {
		return invalid(field, "%d characters; at most %d", len(s), MaxURLChars)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid(field, "must be an absolute http or https URL, like https://example.com/webhook")
	}
	return nil
}

// checkWebhookHost refuses a webhook whose host is an address (or
// localhost) the network policy does not allow. It is a courtesy to the
// API client — the error comes at once, not as failed deliveries — and no
// guard: a host name is checked by the delivery Sender when it connects.
func (a *API) checkWebhookHost(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return nil // checkURL said so already
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if h := strings.ToLower(strings.TrimSuffix(host, ".")); h != "localhost" && !strings.HasSuffix(h, ".localhost") {
			return nil
		}
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1}) // RFC 6761: always the loopback interface
	}
	var refused *netguard.RefusedError
	if !errors.As(a.network.Check(netip.AddrPortFrom(ip, 0)), &refused) {
		return nil
	}
	return invalid("webhook", "%s is a %s address: this server delivers to public addresses only, unless its operator allows others (--%s %s)",
		host, refused.Class, netguard.Flag, refused.Allow())
}

// fail writes the answer for an error of the store or a check.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusUnprocessableEntity, fe.field, fe.Error())
	case errors.Is(err, errFlowGone):
		writeError(w, http.StatusConflict, "", err.Error()+"; it is no longer loaded: put it back in the flows folder")
	case errors.Is(err, context.Canceled):
		writeError(w, http.StatusServiceUnavailable, "", "the request was cancelled")
	default:
		a.log.Error("chat API request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "", "the data store is unavailable; try again")
	}
}

// Package playground serves flowbot's browser playground: a page, served
// from files embedded in the binary, on which a flow author talks to a
// flow and sees each bot turn as web, WhatsApp, Facebook and SMS show it,
// side by side, with the flow graph, the variables, the context size, the
// transitions, every HTTP or llm call and the flow's problems.
//
// There is no second engine in JavaScript: the page is a chat platform.
// Like Userlike, it keeps each channel's context and sends it back with
// every event; each event goes through flowtest.Exchange (and so through
// runtime/turn.Run, the turn every adapter calls) once per channel column.
// The four columns are one conversation played on four channels at once,
// each with its own context, so each shows exactly what its channel does
// (a "2" is an option's number only where the channel showed numbered
// text). Requests the flow makes are answered by the mocks the page
// supplies (the `http:` format of conversation tests), or, when the
// playground was started so, by the real service (Options.Live).
//
// "Save as test file" replays each column's events with a
// flowtest.Recording and writes one test per channel in the format of
// `flowbot test`, then runs it to prove it passes.
//
// Endpoints (all JSON, under the prefix the handler is mounted at):
//
//	GET  /                 the page (index.html and assets/)
//	GET  /api/flows        the flow files of the folder
//	GET  /api/flow?file=F  a flow's graph (DOT), states, problems, env names, etag
//	GET  /api/etag?file=F  the flow file's etag, polled to reload on change
//	POST /api/turn         one event on one channel: the rendered packets and what the turn did
//	POST /api/save         the conversation as a test file
package playground

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/flowbot/flowbot/runtime/flowtest"
)

//go:embed assets
var assets embed.FS

// Options configure the playground.
type Options struct {
	// Dir is the folder of flow files the page offers.
	Dir string
	// Env looks up ${env.NAME} values the page does not give; nil: none.
	Env func(string) (string, bool)
	// Live, when set, makes the requests no page mock answers (the real
	// services); nil: such a request fails the turn with a message that
	// says which mock to add, so nothing leaves the machine.
	Live flowtest.Answerer
	// WriteTests lets "save as test file" write the file into Dir
	// (NAME_playground_test.yaml); otherwise the page only downloads it.
	WriteTests bool
	// APIKeys, when not empty, are required: as Authorization: Bearer, or
	// once as ?key= on the page's address (kept in a cookie for the page).
	APIKeys []string
}

// MaxBody bounds a request body of the playground's API.
const MaxBody = 1 << 20

// New returns the playground's handler, to be mounted at the root or,
// with http.StripPrefix, under a path.
func New(opts Options) http.Handler {
	p := &server{opts: opts}
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /api/flows", p.listFlows)
	mux.HandleFunc("GET /api/flow", p.flowInfo)
	mux.HandleFunc("GET /api/etag", p.etag)
	mux.HandleFunc("POST /api/turn", p.turn)
	mux.HandleFunc("POST /api/save", p.save)
	return p.guard(mux)
}

type server struct {
	opts Options
}

// cookieName keeps the API key for the page's later requests.
const cookieName = "flowbot_playground_key"

// guard checks the API key when keys are configured, and sets the
// headers that keep the page to itself (no request to another host).
func (p *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if len(p.opts.APIKeys) > 0 {
			key := ""
			if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
				key = strings.TrimPrefix(a, "Bearer ")
			} else if q := r.URL.Query().Get("key"); q != "" {
				key = q
			} else if c, err := r.Cookie(cookieName); err == nil {
				key = c.Value
			}
			if !p.validKey(key) {
				writeError(w, http.StatusUnauthorized, "the playground needs an API key: open it as …/playground/?key=YOUR_KEY (one of FLOWBOT_API_KEYS), or send Authorization: Bearer")
				return
			}
			if r.URL.Query().Get("key") != "" {
				http.SetCookie(w, &http.Cookie{Name: cookieName, Value: key, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *server) validKey(key string) bool {
	ok := false
	for _, k := range p.opts.APIKeys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			ok = true
		}
	}
	return ok && key != ""
}

// writeJSON answers v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readJSON decodes a bounded request body into v, or answers the error
// and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "the request is over 1 MiB")
			return false
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		writeError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return false
	}
	return true
}

// defaultNow is the clock of a conversation that gives none.
func defaultNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

package turnlog

import (
	"fmt"

	"github.com/flowbot/flowbot/engine"
)

// Redact replaces the record's personal data by hashes (see SECURITY.md):
//
//   - the values of variables (session before and after), the labels of a
//     pending choice, and of contact data;
//   - the event's text, media URL and location, and a job result's body;
//   - the jobs' URLs, headers, bodies and prompts, and their results' bodies;
//   - the actions' texts, media, button labels and URLs, choice texts and
//     option labels, navigation URLs and platform packets' payloads.
//
// Names stay: flow, states, transitions, event and action kinds, variable
// and contact field names, option ids, statuses, errors' kinds. A value is
// replaced by "h:" and 16 hex digits of its SHA-256, so equal values have
// equal hashes: they can be compared, and a short one guessed by trying
// values, so a redacted log is pseudonymous, not anonymous. Bytes are
// dropped and their hash kept in their place's string form.
func Redact(rec *Record) { redactWith(rec, nil) }

// redactWith is Redact, remembering the hashes of recent values in cache
// (nil: none); a Writer keeps one, as a flow's own texts recur in every
// conversation.
func redactWith(rec *Record, cache map[string]string) {
	r := redactor{cache: cache}
	rec.From = r.session(rec.From)
	r.event(&rec.Event)
	for i := range rec.Jobs {
		r.result(&rec.Jobs[i].Result)
	}
	rec.InputsRedacted = r.changed
	for i := range rec.Jobs {
		rec.Jobs[i].Job = r.job(rec.Jobs[i].Job)
	}
	rec.To = r.session(rec.To)
	if rec.Queued != nil {
		q := r.job(*rec.Queued)
		rec.Queued = &q
	}
	if len(rec.Actions) > 0 {
		acts := make([]engine.Action, len(rec.Actions))
		for i, a := range rec.Actions {
			acts[i] = r.action(a)
		}
		rec.Actions = acts
	}
	rec.Redacted = true
}

// redactor hashes values; changed says whether it hashed any.
type redactor struct {
	changed bool
	cache   map[string]string
}

// maxCached bounds a Writer's cache of hashes (it is emptied when full).
const maxCached = 4096

func (r *redactor) str(s string) string {
	if s == "" || IsHash(s) {
		return s
	}
	r.changed = true
	if h, ok := r.cache[s]; ok {
		return h
	}
	h := hashBytes([]byte(s))
	if r.cache != nil {
		if len(r.cache) >= maxCached {
			clear(r.cache)
		}
		r.cache[s] = h
	}
	return h
}

func (r *redactor) bytes(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	r.changed = true
	return []byte(hashBytes(b))
}

func (r *redactor) strMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = r.str(v)
	}
	return out
}

func (r *redactor) session(s Session) Session {
	s.Vars = r.strMap(s.Vars)
	if s.Pending != nil {
		p := *s.Pending
		p.Options = make([]engine.PendingOption, len(s.Pending.Options))
		for i, o := range s.Pending.Options {
			p.Options[i] = engine.PendingOption{ID: o.ID, Label: r.str(o.Label)}
		}
		s.Pending = &p
	}
	return s
}

func (r *redactor) event(ev *engine.Event) {
	ev.Text = r.str(ev.Text)
	ev.MediaURL = r.str(ev.MediaURL)
	if ev.Location != nil {
		l := engine.Location{Address: r.str(fmt.Sprintf("%v,%v,%s", ev.Location.Latitude, ev.Location.Longitude, ev.Location.Address))}
		ev.Location = &l
	}
	ev.Contact = r.strMap(ev.Contact)
	if ev.HTTP != nil {
		h := *ev.HTTP
		r.result(&h)
		ev.HTTP = &h
	}
}

func (r *redactor) result(h *engine.HTTPResult) {
	h.Body = r.bytes(h.Body)
}

func (r *redactor) job(j engine.Job) engine.Job {
	j.URL = r.str(j.URL)
	j.Body = r.bytes(j.Body)
	if len(j.Headers) > 0 {
		hs := make([][2]string, len(j.Headers))
		for i, h := range j.Headers {
			hs[i] = [2]string{h[0], r.str(h[1])}
		}
		j.Headers = hs
	}
	if j.LLM != nil {
		l := *j.LLM
		l.System = r.str(l.System)
		l.Messages = make([]engine.LLMMessage, len(j.LLM.Messages))
		for i, m := range j.LLM.Messages {
			m.Content = r.str(m.Content)
			l.Messages[i] = m
		}
		j.LLM = &l
	}
	return j
}

func (r *redactor) action(a engine.Action) engine.Action {
	a.Text = r.str(a.Text)
	a.URL = r.str(a.URL)
	if a.Media != nil {
		m := *a.Media
		m.URL, m.Caption = r.str(m.URL), r.str(m.Caption)
		a.Media = &m
	}
	if len(a.Buttons) > 0 {
		bs := make([]engine.URLButton, len(a.Buttons))
		for i, b := range a.Buttons {
			bs[i] = engine.URLButton{Label: r.str(b.Label), URL: r.str(b.URL)}
		}
		a.Buttons = bs
	}
	if a.Choice != nil {
		c := *a.Choice
		c.Body, c.Fallback, c.Header, c.Footer, c.Button = r.str(c.Body), r.str(c.Fallback), r.str(c.Header), r.str(c.Footer), r.str(c.Button)
		c.Options = make([]engine.Option, len(a.Choice.Options))
		for i, o := range a.Choice.Options {
			c.Options[i] = engine.Option{ID: o.ID, Label: r.str(o.Label), Description: r.str(o.Description), Image: r.str(o.Image)}
		}
		a.Choice = &c
	}
	if len(a.Payload) > 0 {
		p := make(map[string]any, len(a.Payload))
		for k, v := range a.Payload {
			p[k] = r.str(fmt.Sprint(v))
		}
		a.Payload = p
	}
	return a
}

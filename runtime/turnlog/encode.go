package turnlog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

// Marshal is the record's line, without its newline: the JSON that
// encoding/json reads back into the same Record (the test
// TestMarshalReadsBack holds it to that), written without reflection, as
// it runs for every turn logged. Fields with zero values are left out.
func (rec *Record) Marshal() ([]byte, error) { return rec.AppendJSON(nil) }

// AppendJSON appends the record's line (Marshal) to b.
func (rec *Record) AppendJSON(b []byte) ([]byte, error) { return rec.appendJSON(b, nil) }

// appendJSON appends the record's line to b, redacted by r (Redact) as it
// is written when r is not nil: the record itself is not changed, nor
// copied. This is the one place that knows which values are personal.
func (rec *Record) appendJSON(b []byte, r *redactor) ([]byte, error) {
	e := enc{b: b, red: r}
	e.record(rec)
	return e.b, e.err
}

// record appends the record's line.
func (e *enc) record(rec *Record) {
	e.nowText = nil
	e.b = append(e.b, '{')
	e.field("kind").str(rec.Kind)
	e.field("id").str(rec.ID)
	e.field("at").time(rec.At)
	e.field("conversation").str(rec.Conversation)
	e.field("flow").str(rec.Flow)
	e.field("version").str(rec.Version)
	e.field("now")
	at := len(e.b)
	e.time(rec.Now)
	e.now, e.nowText = rec.Now, e.b[at:] // the event's Now is the same: formatted once
	e.field("took_ns").int(rec.TookNS)
	e.flag("redacted", rec.Redacted || e.red != nil)
	e.flag("text", rec.Text)
	e.flag("carry", rec.Carry)
	e.flag("queue_async", rec.QueueAsync)
	e.flag("leave_jobs", rec.LeaveJobs)
	if rec.Chain != 0 {
		e.field("chain").int(int64(rec.Chain))
	}
	e.optStr("keys", rec.Keys)
	e.field("from").session(&rec.From)
	e.optStr("context_error", rec.ContextError)
	e.field("event").event(&rec.Event)
	if len(rec.Jobs) > 0 {
		e.field("jobs").list(false, len(rec.Jobs), func(i int) {
			j := &rec.Jobs[i]
			e.b = append(e.b, '{')
			inputs := e.red.hashed()
			e.field("job").job(&j.Job) // an output: it does not make the inputs redacted
			e.red.restore(inputs)
			e.field("result").result(&j.Result)
			if j.TookNS != 0 {
				e.field("took_ns").int(j.TookNS)
			}
			e.end()
		})
	}
	// The inputs (from, event, the jobs' results) are written: did they
	// hold personal data?
	e.flag("inputs_redacted", rec.InputsRedacted || e.red.hashed())
	e.field("to").session(&rec.To)
	if len(rec.Trace) > 0 {
		e.field("trace").list(false, len(rec.Trace), func(i int) {
			t := &rec.Trace[i]
			e.b = append(e.b, '{')
			e.field("From").str(t.From)
			e.field("Trigger").str(t.Trigger)
			e.field("To").str(t.To)
			e.end()
		})
	}
	if len(rec.Actions) > 0 {
		e.field("actions").list(false, len(rec.Actions), func(i int) { e.action(&rec.Actions[i]) })
	}
	if rec.Queued != nil {
		e.field("queued").job(rec.Queued)
	}
	if t := rec.Timer; t != nil {
		e.open("timer", '{')
		e.field("State").str(t.State)
		e.field("Rule").int(int64(t.Rule))
		e.field("After").int(int64(t.After))
		e.field("Continue").bool(t.Continue)
		e.end()
	}
	e.field("outcome").str(rec.Outcome)
	if len(rec.Errors) > 0 {
		e.field("errors").list(false, len(rec.Errors), func(i int) { e.str(rec.Errors[i]) })
	}
	e.field("digest").str(rec.Digest)
	e.end()
}

// enc appends JSON.
type enc struct {
	b   []byte
	err error
	// red, when not nil, redacts the personal values (p, pbytes) as they
	// are written.
	red  *redactor
	keys []string // a map's keys, reused
	// now and its text, written as the record's now (the old backing
	// array of e.b still holds it after e.b grows)
	now     time.Time
	nowText []byte
}

// field starts an object's field (after '{' or a previous field).
func (e *enc) field(name string) *enc {
	if c := e.b[len(e.b)-1]; c != '{' {
		e.b = append(e.b, ',')
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
	return e
}

// open starts an object's field whose value opens with c ('{' or '[').
func (e *enc) open(name string, c byte) { e.field(name).b = append(e.b, c) }

func (e *enc) end() { e.b = append(e.b, '}') }

// list appends a JSON array of n items (null when isNil), item(i)
// appending each.
func (e *enc) list(isNil bool, n int, item func(i int)) {
	if isNil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '[')
	for i := range n {
		e.comma(i)
		item(i)
	}
	e.b = append(e.b, ']')
}

func (e *enc) comma(i int) {
	if i > 0 {
		e.b = append(e.b, ',')
	}
}

func (e *enc) flag(name string, v bool) {
	if v {
		e.field(name).bool(true)
	}
}

func (e *enc) optStr(name, v string) {
	if v != "" {
		e.field(name).str(v)
	}
}

func (e *enc) int(n int64) { e.b = appendInt(e.b, n) }

// appendInt is strconv.AppendInt(b, n, 10), quicker for the small numbers
// lines are full of (lengths, sequence numbers).
func appendInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n < 10:
		return append(b, byte('0'+n))
	case n >= 10 && n < 100:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	}
	return strconv.AppendInt(b, n, 10)
}

func (e *enc) float(f float64) {
	b, err := json.Marshal(f) // encoding/json's float form (and its refusal of NaN)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		b = []byte{'0'} // the line stays JSON
	}
	e.b = append(e.b, b...)
}

func (e *enc) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *enc) time(t time.Time) {
	e.b = append(e.b, '"')
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	e.b = append(e.b, '"')
}

func (e *enc) bytes(b []byte) {
	e.b = append(e.b, '"')
	e.b = base64.StdEncoding.AppendEncode(e.b, b)
	e.b = append(e.b, '"')
}

const hexDigits = "0123456789abcdef"

// str appends s as a JSON string, as encoding/json does without HTML
// escaping: invalid UTF-8 becomes U+FFFD.
func (e *enc) str(s string) {
	e.b = append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			e.b = append(e.b, s[start:i]...)
			switch c {
			case '"', '\\':
				e.b = append(e.b, '\\', c)
			case '\n':
				e.b = append(e.b, '\\', 'n')
			case '\r':
				e.b = append(e.b, '\\', 'r')
			case '\t':
				e.b = append(e.b, '\\', 't')
			default:
				e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.b = append(e.b, s[start:i]...)
			e.b = append(e.b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			e.b = append(e.b, s[start:i]...)
			e.b = append(e.b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	e.b = append(e.b, s[start:]...)
	e.b = append(e.b, '"')
}

// p appends a personal value: s, or its hash when redacting.
func (e *enc) p(s string) {
	if e.red == nil || s == "" || IsHash(s) {
		e.str(s)
		return
	}
	e.b = append(append(append(e.b, '"'), e.red.str(s)...), '"') // a hash needs no escaping
}

// pOpt is p for a field left out when empty.
func (e *enc) pOpt(name, v string) {
	if v != "" {
		e.field(name).p(v)
	}
}

// pbytes appends personal bytes: b, or its hash (as bytes) when redacting.
func (e *enc) pbytes(b []byte) {
	if e.red != nil && len(b) > 0 {
		e.red.changed = true
		var h [hashLen]byte
		b = appendHash(h[:0], b)
	}
	e.bytes(b)
}

// strMap appends m; its values are personal when personal is set.
func (e *enc) strMap(m map[string]string, personal bool) {
	e.b = append(e.b, '{')
	e.keys = appendSortedKeys(e.keys[:0], m)
	for i, k := range e.keys {
		e.comma(i)
		e.str(k)
		e.b = append(e.b, ':')
		if personal {
			e.p(m[k])
		} else {
			e.str(m[k])
		}
	}
	e.end()
}

func (e *enc) session(s *Session) {
	e.b = append(e.b, '{')
	e.optStr("flow", s.Flow)
	e.optStr("version", s.Version)
	e.optStr("state", s.State)
	if len(s.Vars) > 0 {
		e.field("vars").strMap(s.Vars, true)
	}
	if p := s.Pending; p != nil {
		e.open("pending", '{')
		e.field("Options").list(p.Options == nil, len(p.Options), func(i int) {
			e.b = append(e.b, '{')
			e.field("ID").str(p.Options[i].ID)
			e.field("Label").p(p.Options[i].Label)
			e.end()
		})
		e.field("Numbered").bool(p.Numbered)
		e.end()
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"retries", s.Retries}, {"job_seq", s.JobSeq}, {"await_seq", s.AwaitSeq}} {
		if f.n != 0 {
			e.field(f.name).int(int64(f.n))
		}
	}
	e.flag("done", s.Done)
	e.flag("foreign", s.Foreign)
	e.end()
}

func (e *enc) event(ev *engine.Event) {
	e.b = append(e.b, '{')
	e.field("Name").str(ev.Name)
	e.pOpt("Text", ev.Text)
	e.optStr("ClickID", ev.ClickID)
	e.pOpt("MediaURL", ev.MediaURL)
	if l := ev.Location; l != nil {
		e.open("Location", '{')
		if e.red != nil { // the place as a whole is personal
			e.field("Latitude").int(0)
			e.field("Longitude").int(0)
			e.field("Address").p(fmt.Sprintf("%v,%v,%s", l.Latitude, l.Longitude, l.Address))
		} else {
			e.field("Latitude").float(l.Latitude)
			e.field("Longitude").float(l.Longitude)
			e.field("Address").str(l.Address)
		}
		e.end()
	}
	e.optStr("Channel", ev.Channel)
	e.optStr("Locale", ev.Locale)
	if ev.Contact != nil {
		e.field("Contact").strMap(ev.Contact, true)
	}
	if ev.Bot != nil {
		e.field("Bot").strMap(ev.Bot, false)
	}
	if ev.HTTP != nil {
		e.field("HTTP").result(ev.HTTP)
	}
	if s := ev.Silence; s != nil {
		e.open("Silence", '{')
		e.field("State").str(s.State)
		e.field("Rule").int(int64(s.Rule))
		e.end()
	}
	if e.nowText != nil && ev.Now == e.now {
		e.field("Now").b = append(e.b, e.nowText...)
	} else {
		e.field("Now").time(ev.Now)
	}
	e.end()
}

func (e *enc) result(r *engine.HTTPResult) {
	e.b = append(e.b, '{')
	e.field("Seq").int(int64(r.Seq))
	e.field("Status").int(int64(r.Status))
	if r.Body != nil {
		e.field("Body").pbytes(r.Body)
	}
	e.optStr("Err", r.Err)
	e.end()
}

func (e *enc) job(j *engine.Job) {
	e.b = append(e.b, '{')
	e.field("Seq").int(int64(j.Seq))
	e.field("State").str(j.State)
	e.optStr("Method", j.Method)
	e.pOpt("URL", j.URL)
	if j.Headers != nil {
		e.field("Headers").list(false, len(j.Headers), func(i int) {
			e.b = append(e.b, '[')
			e.str(j.Headers[i][0])
			e.b = append(e.b, ',')
			e.p(j.Headers[i][1])
			e.b = append(e.b, ']')
		})
	}
	if j.Body != nil {
		e.field("Body").pbytes(j.Body)
	}
	if j.Timeout != 0 {
		e.field("Timeout").int(int64(j.Timeout))
	}
	e.flag("Async", j.Async)
	if l := j.LLM; l != nil {
		e.open("LLM", '{')
		e.field("System").p(l.System)
		e.field("Messages").list(l.Messages == nil, len(l.Messages), func(i int) {
			e.b = append(e.b, '{')
			e.field("Role").str(l.Messages[i].Role)
			e.field("Content").p(l.Messages[i].Content)
			e.end()
		})
		if l.MaxTokens != 0 {
			e.field("MaxTokens").int(int64(l.MaxTokens))
		}
		if l.Temperature != nil {
			e.field("Temperature").float(*l.Temperature)
		}
		e.end()
	}
	e.end()
}

func (e *enc) action(a *engine.Action) {
	e.b = append(e.b, '{')
	e.field("Kind").str(string(a.Kind))
	e.pOpt("Text", a.Text)
	e.flag("Markdown", a.Markdown)
	if m := a.Media; m != nil {
		e.open("Media", '{')
		e.field("Type").str(m.Type)
		e.field("URL").p(m.URL)
		e.field("Caption").p(m.Caption)
		e.end()
	}
	if a.Buttons != nil {
		e.field("Buttons").list(false, len(a.Buttons), func(i int) {
			e.b = append(e.b, '{')
			e.field("Label").p(a.Buttons[i].Label)
			e.field("URL").p(a.Buttons[i].URL)
			e.end()
		})
	}
	e.pOpt("URL", a.URL)
	if a.Seconds != 0 {
		e.field("Seconds").float(a.Seconds)
	}
	if c := a.Choice; c != nil {
		e.open("Choice", '{')
		e.optStr("Form", c.Form)
		e.field("Body").p(c.Body)
		e.pOpt("Fallback", c.Fallback)
		e.pOpt("Header", c.Header)
		e.pOpt("Footer", c.Footer)
		e.pOpt("Button", c.Button)
		e.field("Options").list(c.Options == nil, len(c.Options), func(i int) {
			o := &c.Options[i]
			e.b = append(e.b, '{')
			e.field("ID").str(o.ID)
			e.field("Label").p(o.Label)
			e.pOpt("Description", o.Description)
			e.pOpt("Image", o.Image)
			e.end()
		})
		e.end()
	}
	e.optStr("Name", a.Name)
	if a.Payload != nil {
		e.open("Payload", '{')
		e.keys = appendSortedKeys(e.keys[:0], a.Payload)
		for i, k := range e.keys {
			e.comma(i)
			e.str(k)
			e.b = append(e.b, ':')
			if s, ok := a.Payload[k].(string); ok {
				e.p(s)
				continue
			}
			if v, ok := a.Payload[k].(bool); ok && e.red == nil { // without reflection
				e.bool(v)
				continue
			} else if ok {
				e.p(strconv.FormatBool(v)) // what fmt.Sprint gives
				continue
			}
			if e.red != nil { // a number, a list: its text's hash
				e.p(fmt.Sprint(a.Payload[k]))
				continue
			}
			b, err := json.Marshal(a.Payload[k]) // rare: numbers, booleans, lists
			if err != nil && e.err == nil {
				e.err = err
			}
			e.b = append(e.b, b...)
		}
		e.end()
	}
	e.end()
}

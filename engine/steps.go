package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/flows"
)

// script runs a state's script; false means it failed (error path taken).
func (r *run) script(st *flows.State) bool {
	if err := r.bot.broken[st.Name]; err != nil {
		r.fail(err)
		return false
	}
	prog := r.bot.scripts[st.Name]
	if prog == nil {
		return true
	}
	vars := r.s.Vars
	if vars == nil {
		vars = map[string]string{}
	}
	out, err := r.bot.host.Run(r.ctx, prog, script.Input{
		Event: r.eventData(), Vars: vars, Contact: r.ev.Contact, Channel: r.ev.Channel, Bot: r.ev.Bot, Now: r.ev.Now,
		Seed: r.scriptSeed(st.Name), Timeout: r.bot.limits.timeout, Memory: r.bot.limits.memory,
	})
	if err != nil {
		r.fail(err)
		return false
	}
	for k := range r.s.Vars {
		if _, kept := out.Vars[k]; !kept {
			delete(r.s.Vars, k)
		}
	}
	for _, k := range sortedKeys(out.Vars) {
		if !validVarName(k) {
			r.fail(fmt.Errorf("state %q: the script set vars[%q], which is not a variable name", st.Name, k))
			return false
		}
		if v := clean(out.Vars[k]); r.s.Vars[k] != v && !r.setVar(k, v) {
			return false
		}
	}
	for _, text := range out.Say {
		r.out = append(r.out, Action{Kind: ActText, Text: text})
	}
	for _, a := range out.Acts {
		r.out = append(r.out, Action{Kind: ActPlatform, Name: a.Name, Payload: a.Payload})
		if flows.TerminalActions[a.Name] {
			r.s.Done = true
		}
	}
	r.goTo = out.Goto
	return true
}

// scriptSeed seeds a script's Math.random from everything the turn is made
// of: the flow version, the state, the session and the event. The same
// turn (a replay) draws the same numbers; another turn draws others.
func (r *run) scriptSeed(state string) uint64 {
	h := fnv(fnvOffset, r.flow.Hash)
	h = fnv(h, state)
	h = fnv(h, r.s.State)
	h = fnvInt(h, varsHash(r.s.Vars))
	h = fnvInt(h, uint64(r.s.Retries)<<32|uint64(uint32(r.s.JobSeq)))
	h = fnv(h, r.ev.Name)
	h = fnv(h, r.ev.Text)
	h = fnv(h, r.ev.ClickID)
	h = fnv(h, r.ev.MediaURL)
	h = fnvInt(h, uint64(r.ev.Now.UnixNano()))
	if hr := r.ev.HTTP; hr != nil {
		h = fnvInt(h, uint64(hr.Seq)<<32|uint64(uint32(hr.Status)))
		h = fnv(h, string(hr.Body))
	}
	return h
}

// varsHash fingerprints variables independently of the map's order.
func varsHash(vars map[string]string) uint64 {
	var sum uint64
	for k, v := range vars {
		sum ^= fnv(fnv(fnvOffset, k), v)
	}
	return sum
}

const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211

// fnv mixes s into the FNV-1a hash h, with a separator after it.
func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime
}

// fnvInt mixes the eight bytes of x into h.
func fnvInt(h, x uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (x & 0xff)) * fnvPrime
		x >>= 8
	}
	return h
}

func validVarName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i, c := range k {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// eventData is the event as a script sees it.
func (r *run) eventData() map[string]any {
	e := map[string]any{"name": r.ev.Name, "text": r.ev.Text, "click": r.ev.ClickID, "media": r.ev.MediaURL}
	if r.picked.index > 0 {
		e["label"], e["index"] = r.picked.label, r.picked.index
	}
	if l := r.ev.Location; l != nil {
		e["location"] = map[string]any{"latitude": l.Latitude, "longitude": l.Longitude, "address": l.Address}
	}
	if h := r.ev.HTTP; h != nil {
		var body any
		if json.Unmarshal(h.Body, &body) != nil {
			body = string(h.Body)
		}
		e["http"] = map[string]any{"status": h.Status, "body": body}
	}
	return e
}

// request renders a state's HTTP step into a Job; the state then waits.
func (r *run) request(st *flows.State) {
	h := st.HTTP
	url, err := h.URL.Render(r.lookup)
	if err != nil {
		r.fail(fmt.Errorf("state %q: http url: %w", st.Name, err))
		return
	}
	job := &Job{State: st.Name, Method: h.Method, URL: url, Async: h.Async,
		Timeout: time.Duration(h.Timeout * float64(time.Second))}
	for _, hd := range h.Headers {
		v, err := hd.Value.Render(r.lookup)
		if err != nil {
			r.fail(fmt.Errorf("state %q: http header %s: %w", st.Name, hd.Name, err))
			return
		}
		job.Headers = append(job.Headers, [2]string{hd.Name, v})
	}
	switch {
	case h.Body != nil:
		body, err := h.Body.Render(r.lookup)
		if err != nil {
			r.fail(fmt.Errorf("state %q: http body: %w", st.Name, err))
			return
		}
		job.Body = []byte(body)
	case h.JSON != nil:
		v, err := h.JSON.Render(r.lookup)
		if err != nil {
			r.fail(fmt.Errorf("state %q: http json: %w", st.Name, err))
			return
		}
		job.Body, _ = json.Marshal(v)
		job.Headers = append(job.Headers, [2]string{"Content-Type", "application/json"})
	}
	r.queue(job)
}

// queue numbers a job and makes the state wait for its result.
func (r *run) queue(job *Job) {
	r.s.JobSeq++
	r.s.AwaitSeq = r.s.JobSeq
	job.Seq = r.s.JobSeq
	r.res.Job = job
}

// awaited reports whether the event is the result the state st waits
// for; if so the state stops waiting. A result for a request the
// conversation no longer waits for (it moved on, or the result is a
// duplicate) is ignored.
func (r *run) awaited(st *flows.State) bool {
	h := r.ev.HTTP
	if h == nil || st == nil || h.Seq == 0 || h.Seq != r.bot.Awaits(r.s) {
		r.res.Ignored = true
		return false
	}
	r.s.AwaitSeq = 0
	return true
}

// httpResult takes the answer to the request the current state waits for.
// A result for a request the conversation no longer waits for (it moved on,
// or the result is a duplicate) changes nothing.
func (r *run) httpResult() {
	h := r.ev.HTTP
	st := r.current()
	if st == nil || st.HTTP == nil {
		r.res.Ignored = true
		return
	}
	if !r.awaited(st) {
		return
	}
	if h.Err != "" {
		r.fail(fmt.Errorf("state %q: http request failed: %s", st.Name, h.Err))
		return
	}
	if t, ok := st.OnStatus[h.Status]; ok && t.State != "" {
		r.fire("status:" + strconv.Itoa(h.Status))
		r.enter()
		return
	}
	if h.Status < 200 || h.Status > 299 {
		r.fail(fmt.Errorf("state %q: http status %d", st.Name, h.Status))
		return
	}
	if len(st.HTTP.Save) > 0 {
		var doc any
		dec := json.NewDecoder(bytes.NewReader(h.Body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			r.fail(fmt.Errorf("state %q: the answer is not JSON: %v", st.Name, err))
			return
		}
		for _, fs := range st.HTTP.Save {
			v, ok := field(doc, fs.Path, h.Status)
			if !ok {
				r.fail(fmt.Errorf("state %q: the answer has no field %q", st.Name, fs.Path))
				return
			}
			v = clean(v)
			if utf8.RuneCountInString(v) > flows.MaxSavedField {
				r.fail(fmt.Errorf("state %q: field %q is longer than %d characters", st.Name, fs.Path, flows.MaxSavedField))
				return
			}
			if !r.setVar(fs.Var, v) {
				return
			}
		}
	}
	if r.complete(st) && !r.s.Done {
		if !r.next(st) {
			r.s.Done = true
		}
	}
}

// field reads a dotted path (`order.items.0.name`) from decoded JSON.
// Objects and lists are returned as JSON text.
func field(doc any, path string, status int) (string, bool) {
	if path == "@status" {
		return strconv.Itoa(status), true
	}
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[seg]
			if !ok {
				return "", false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return "", false
			}
			cur = x[i]
		default:
			return "", false
		}
	}
	switch x := cur.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		b, _ := json.Marshal(x)
		return string(b), true
	}
}

package flowtest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/flowbot/flowbot/engine"
)

// Answer answers a job from mocks: an HTTP job from the first HTTP mock
// whose URL and method match and whose request checks pass, an llm job
// from the first llm mock whose matcher matches the request's last user
// message. An HTTP job whose URL a mock matches but whose method or
// request does not is an error that shows the request that came.
func Answer(mocks []Mock, job *engine.Job) (engine.HTTPResult, error) {
	if job.LLM != nil {
		return answerLLM(mocks, job)
	}
	var mismatch error
	for _, m := range mocks {
		if m.LLM != nil || !urlMatches(m.URL, job.URL) {
			continue
		}
		var why []string
		if m.Method != "" && !strings.EqualFold(m.Method, job.Method) {
			why = []string{fmt.Sprintf("method: want %s, got %s", strings.ToUpper(m.Method), job.Method)}
		} else if m.Request != nil {
			why = m.Request.check(job)
		}
		if len(why) > 0 {
			if mismatch == nil {
				mismatch = fmt.Errorf("http mock (line %d) does not match the request:\n%s\nthe request that came:\n%s", m.Line, indent(strings.Join(why, "\n")), indent(showRequest(job)))
			}
			continue
		}
		res := engine.HTTPResult{Seq: job.Seq, Status: m.Status, Err: m.Error}
		if res.Status == 0 && res.Err == "" {
			res.Status = 200
		}
		switch {
		case m.JSON != nil:
			res.Body, _ = json.Marshal(m.JSON)
		default:
			res.Body = []byte(m.Body)
		}
		return res, nil
	}
	if mismatch != nil {
		return engine.HTTPResult{}, mismatch
	}
	return engine.HTTPResult{}, fmt.Errorf("no http mock for %s %s (add one under the test's `http:`)", job.Method, job.URL)
}

// Request is what an HTTP mock checks of the request it answers.
type Request struct {
	Headers      map[string]string `yaml:"headers,omitempty"`       // name (any case) → exact value or /regexp/
	JSON         any               `yaml:"json,omitempty"`          // the body is exactly this JSON
	JSONContains any               `yaml:"json_contains,omitempty"` // the body's JSON contains this
	Body         *string           `yaml:"body,omitempty"`          // the body is exactly this text
	BodyContains string            `yaml:"body_contains,omitempty"` // the body contains this text
}

// check describes how the job differs from the request, one line for
// each difference.
func (r *Request) check(job *engine.Job) []string {
	var why []string
	for _, name := range sortedKeys(r.Headers) {
		want := r.Headers[name]
		got, ok := header(job.Headers, name)
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("header %s: missing (want %q)", name, want))
		case !urlMatches(want, got):
			why = append(why, fmt.Sprintf("header %s: want %q, got %q", name, want, got))
		}
	}
	if r.JSON != nil || r.JSONContains != nil {
		var body any
		if err := json.Unmarshal(job.Body, &body); err != nil {
			why = append(why, fmt.Sprintf("body: want JSON, got %q", job.Body))
		} else if r.JSON != nil {
			if d := jsonDiff("body", normalize(r.JSON), body, false); d != "" {
				why = append(why, d)
			}
		} else if d := jsonDiff("body", normalize(r.JSONContains), body, true); d != "" {
			why = append(why, d)
		}
	}
	if r.Body != nil && string(job.Body) != *r.Body {
		why = append(why, fmt.Sprintf("body: want %q, got %q", *r.Body, job.Body))
	}
	if r.BodyContains != "" && !strings.Contains(string(job.Body), r.BodyContains) {
		why = append(why, fmt.Sprintf("body: does not contain %q", r.BodyContains))
	}
	return why
}

func header(hs [][2]string, name string) (string, bool) {
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

// normalize turns YAML-decoded data into what encoding/json decodes.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// jsonDiff describes the first place where got differs from want (with
// subset, objects in got may have more fields), or returns "".
func jsonDiff(path string, want, got any, subset bool) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, got %s", path, compact(got))
		}
		for _, k := range sortedKeys(w) {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s.%s: missing (want %s)", path, k, compact(w[k]))
			}
			if d := jsonDiff(path+"."+k, w[k], gv, subset); d != "" {
				return d
			}
		}
		if !subset {
			for _, k := range sortedKeys(g) {
				if _, ok := w[k]; !ok {
					return fmt.Sprintf("%s.%s: not expected (got %s)", path, k, compact(g[k]))
				}
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %s, got %s", path, compact(want), compact(got))
		}
		for i := range w {
			if d := jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], subset); d != "" {
				return d
			}
		}
		return ""
	}
	if !sameJSON(want, got) {
		return fmt.Sprintf("%s: want %s, got %s", path, compact(want), compact(got))
	}
	return ""
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// showRequest prints a request as it was sent.
func showRequest(job *engine.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", job.Method, job.URL)
	for _, h := range job.Headers {
		fmt.Fprintf(&b, "%s: %s\n", h[0], h[1])
	}
	if len(job.Body) > 0 {
		fmt.Fprintf(&b, "body: %s\n", job.Body)
	}
	return b.String()
}

// withEnv expands ${env.NAME} in the mocks' URLs and header values.
func withEnv(mocks []Mock, env func(string) string) []Mock {
	out := make([]Mock, len(mocks))
	for i, m := range mocks {
		m.URL = expandEnv(m.URL, env)
		if m.Request != nil && len(m.Request.Headers) > 0 {
			r := *m.Request
			r.Headers = map[string]string{}
			for k, v := range m.Request.Headers {
				r.Headers[k] = expandEnv(v, env)
			}
			m.Request = &r
		}
		out[i] = m
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{env\.([A-Za-z_][A-Za-z0-9_]*)\}`)

func expandEnv(s string, env func(string) string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return envRef.ReplaceAllStringFunc(s, func(ref string) string { return env(envRef.FindStringSubmatch(ref)[1]) })
}

// answerLLM answers an llm job from the first llm mock that matches, after
// checking what the mock says the request must contain.
func answerLLM(mocks []Mock, job *engine.Job) (engine.HTTPResult, error) {
	msgs := job.LLM.Messages
	last := -1
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			last = i
			break
		}
	}
	text, earlier := "", msgs
	if last >= 0 {
		text, earlier = msgs[last].Content, msgs[:last]
	}
	for _, m := range mocks {
		if m.LLM == nil || *m.LLM != "" && !urlMatches(*m.LLM, text) {
			continue
		}
		if m.SystemContains != "" && !strings.Contains(job.LLM.System, m.SystemContains) {
			return engine.HTTPResult{}, fmt.Errorf("llm mock (line %d): the system prompt does not contain %q; it is:\n%s", m.Line, m.SystemContains, indent(job.LLM.System))
		}
		if m.HistoryContains != "" && !historyContains(earlier, m.HistoryContains) {
			return engine.HTTPResult{}, fmt.Errorf("llm mock (line %d): no earlier message of the transcript contains %q; they are:\n%s", m.Line, m.HistoryContains, indent(transcript(earlier)))
		}
		if m.Reply == nil {
			return engine.HTTPResult{Seq: job.Seq, Err: m.Error}, nil
		}
		return engine.HTTPResult{Seq: job.Seq, Status: 200, Body: []byte(*m.Reply)}, nil
	}
	return engine.HTTPResult{}, fmt.Errorf("no llm mock for the message %q (add one under the test's http: with llm: and reply:)", text)
}

func historyContains(msgs []engine.LLMMessage, s string) bool {
	for _, m := range msgs {
		if strings.Contains(m.Content, s) {
			return true
		}
	}
	return false
}

func transcript(msgs []engine.LLMMessage) string {
	if len(msgs) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s: %s\n", m.Role, m.Content)
	}
	return b.String()
}

func urlMatches(pattern, url string) bool {
	if isPattern(pattern) {
		re, err := regexp.Compile(pattern[1 : len(pattern)-1])
		return err == nil && re.MatchString(url)
	}
	return pattern == url
}

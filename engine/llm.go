package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flowbot/flowbot/flows"
)

// maxHistoryEntry bounds one message of an llm step's transcript, in
// characters: the transcript travels in the context.
const maxHistoryEntry = 600

// llmRequest renders a state's llm step into a Job; the state then waits
// for the reply. The user's turn joins the transcript kept in
// flows.HistoryVar, so the model sees the recent conversation.
func (r *run) llmRequest(st *flows.State) {
	l := st.LLM
	system, err := l.System.Render(r.lookup)
	if err != nil {
		r.fail(fmt.Errorf("state %q: llm system: %w", st.Name, err))
		return
	}
	prompt := r.ev.Text
	if !l.Prompt.IsZero() {
		if prompt, err = l.Prompt.Render(r.lookup); err != nil {
			r.fail(fmt.Errorf("state %q: llm prompt: %w", st.Name, err))
			return
		}
	}
	prompt = strings.TrimSpace(clean(prompt))
	var msgs []LLMMessage
	if l.History > 0 {
		msgs = r.history()
	}
	if prompt != "" {
		msgs = append(msgs, LLMMessage{Role: "user", Content: cutRunes(prompt, maxHistoryEntry)})
	}
	if l.History > 0 {
		msgs = trimHistory(msgs, l.History+1)
		if !r.setVar(flows.HistoryVar, encodeHistory(msgs)) {
			return
		}
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = flows.DefaultLLMTimeout
	}
	job := &Job{State: st.Name, Timeout: time.Duration(timeout * float64(time.Second)), Async: l.Async,
		LLM: &LLMRequest{System: system, Messages: msgs, MaxTokens: l.MaxTokens, Temperature: l.Temperature}}
	r.queue(job)
}

// llmResult takes the model's reply to the request the state waits for:
// says it (unless quiet), saves it, records it in the transcript, then
// completes the state like an http step.
func (r *run) llmResult() {
	h := r.ev.HTTP
	st := r.current()
	if !r.awaited(st) {
		return
	}
	l := st.LLM
	if h.Err != "" {
		r.fail(fmt.Errorf("state %q: llm request failed: %s", st.Name, h.Err))
		return
	}
	reply := cutRunes(strings.TrimSpace(clean(strings.ToValidUTF8(string(h.Body), ""))), flows.MaxLLMReply)
	if reply == "" {
		r.fail(fmt.Errorf("state %q: the model's reply is empty", st.Name))
		return
	}
	if l.History > 0 {
		msgs := trimHistory(append(r.history(), LLMMessage{Role: "assistant", Content: cutRunes(reply, maxHistoryEntry)}), l.History)
		if !r.setVar(flows.HistoryVar, encodeHistory(msgs)) {
			return
		}
	}
	if l.Save != "" && !r.setVar(l.Save, reply) {
		return
	}
	if !l.Quiet {
		r.out = append(r.out, Action{Kind: ActText, Text: reply})
	}
	if r.complete(st) && !r.s.Done {
		if !r.next(st) {
			r.s.Done = true
		}
	}
}

// history reads the transcript; a damaged one is dropped.
func (r *run) history() []LLMMessage {
	raw := r.s.Vars[flows.HistoryVar]
	if raw == "" {
		return nil
	}
	var msgs []LLMMessage
	if json.Unmarshal([]byte(raw), &msgs) != nil {
		return nil
	}
	out := msgs[:0]
	for _, m := range msgs {
		if (m.Role == "user" || m.Role == "assistant") && m.Content != "" {
			out = append(out, m)
		}
	}
	return out
}

// trimHistory keeps the last n messages whose transcript fits in
// flows.MaxHistoryBytes as the context holds it (a JSON string inside the
// context's JSON: quotes and backslashes escaped twice); a last message
// too long alone is cut.
func trimHistory(msgs []LLMMessage, n int) []LLMMessage {
	if len(msgs) > n {
		msgs = msgs[len(msgs)-n:]
	}
	for len(msgs) > 1 && historySize(msgs) > flows.MaxHistoryBytes {
		msgs = msgs[1:]
	}
	if len(msgs) == 1 {
		last := msgs[0]
		for historySize([]LLMMessage{last}) > flows.MaxHistoryBytes {
			last.Content = cutRunes(last.Content, utf8.RuneCountInString(last.Content)*3/4)
		}
		msgs = []LLMMessage{last}
	}
	return msgs
}

// historySize is the transcript's size inside the context.
func historySize(msgs []LLMMessage) int {
	b, _ := json.Marshal(encodeHistory(msgs))
	return len(b)
}

func encodeHistory(msgs []LLMMessage) string {
	if len(msgs) == 0 {
		return ""
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(msgs)
	return strings.TrimSuffix(sb.String(), "\n")
}

// clip cuts s to at most n characters.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// Unsay removes from the transcript of llm steps what the contact never
// saw: texts of bot messages that were cancelled before they were sent
// (an interruption), oldest first. They are cut from the end of the last
// reply of the model (a reply split into several messages loses its
// unsent tail; a reply none of which was sent is dropped). Texts that are
// not the model's (a flow's own messages) change nothing. ok reports
// whether the transcript changed.
func Unsay(s Session, unsent []string) (out Session, ok bool) {
	raw := s.Vars[flows.HistoryVar]
	if raw == "" || len(unsent) == 0 {
		return s, false
	}
	var msgs []LLMMessage
	if json.Unmarshal([]byte(raw), &msgs) != nil || len(msgs) == 0 || msgs[len(msgs)-1].Role != "assistant" {
		return s, false
	}
	last := &msgs[len(msgs)-1]
	content := last.Content
	for i := len(unsent) - 1; i >= 0; i-- {
		text := strings.TrimSpace(unsent[i])
		trimmed := strings.TrimRightFunc(content, unicode.IsSpace)
		if text == "" || !strings.HasSuffix(trimmed, text) {
			break
		}
		content = strings.TrimRightFunc(strings.TrimSuffix(trimmed, text), unicode.IsSpace)
	}
	if content == last.Content {
		return s, false
	}
	if content == "" {
		msgs = msgs[:len(msgs)-1]
	} else {
		last.Content = content
	}
	out = s.clone()
	if len(msgs) == 0 {
		delete(out.Vars, flows.HistoryVar)
	} else {
		out.Vars[flows.HistoryVar] = encodeHistory(msgs)
	}
	return out, true
}

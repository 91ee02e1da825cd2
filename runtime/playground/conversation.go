package playground

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/engine/script"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/flowtest"
)

// Event is what the contact does, as the page sends it. Pick is an option
// picked in any column: it becomes the click on a channel that shows the
// choice clickable, and the number the contact would type on one that
// showed it as numbered text.
type Event struct {
	Name     string           `json:"name"` // start, message, click, media, location, or a platform event
	Text     string           `json:"text,omitempty"`
	Click    string           `json:"click,omitempty"`
	Pick     string           `json:"pick,omitempty"`
	Media    string           `json:"media,omitempty"`
	Location *engine.Location `json:"location,omitempty"`
}

// Start is where a conversation starts: the flow's start, or a state
// with variables.
type Start struct {
	State string            `json:"state,omitempty"`
	Vars  map[string]string `json:"vars,omitempty"`
}

// setup is what every turn and the save share: the flow, the page's env
// and mocks, the conversation's clock and where it started.
type setup struct {
	File  string            `json:"file"`
	Env   map[string]string `json:"env,omitempty"`
	Mocks string            `json:"mocks,omitempty"` // YAML: a list in the format of a test's http:
	Now   string            `json:"now,omitempty"`   // RFC 3339; the clock of every turn
	Start Start             `json:"start"`
}

// turnRequest is one event on one channel.
type turnRequest struct {
	setup
	Channel string          `json:"channel"`
	Context json.RawMessage `json:"context,omitempty"` // the column's context, as the bot sent it last; absent: a new conversation
	Event   Event           `json:"event"`
}

// call is one HTTP or llm request a turn made, with its answer.
type call struct {
	Kind     string             `json:"kind"` // http or llm
	State    string             `json:"state"`
	Method   string             `json:"method,omitempty"`
	URL      string             `json:"url,omitempty"`
	Headers  [][2]string        `json:"headers,omitempty"`
	Body     string             `json:"body,omitempty"`
	LLM      *engine.LLMRequest `json:"llm,omitempty"`
	Async    bool               `json:"async,omitempty"` // in serve: answered at once, the result pushed later
	Answer   string             `json:"answered_by"`     // mock, live or none
	Status   int                `json:"status,omitempty"`
	Response string             `json:"response,omitempty"`
	Error    string             `json:"error,omitempty"`
}

// scriptError is an error path the flow took, with its position when a
// script failed.
type scriptError struct {
	Text   string `json:"text"`
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// turnResponse is what the page shows of one turn on one channel.
type turnResponse struct {
	Channel      string              `json:"channel"`
	Event        Event               `json:"event"` // what the contact did on this channel (a pick made concrete)
	Packets      []channels.Packet   `json:"packets"`
	Numbered     bool                `json:"numbered"`
	Context      json.RawMessage     `json:"context,omitempty"`
	ContextBytes int                 `json:"context_bytes"`
	ContextMax   int                 `json:"context_max"`
	State        string              `json:"state"`
	Vars         map[string]string   `json:"vars"`
	Done         bool                `json:"done"`
	Trace        []engine.Transition `json:"trace"`
	Errors       []scriptError       `json:"errors"`
	Calls        []call              `json:"calls"`
	Recovery     string              `json:"recovery,omitempty"`
	Failed       string              `json:"failed,omitempty"` // the turn could not be played (a request without a mock…)
}

// parse reads the setup's mocks and clock.
func (s setup) parse() ([]flowtest.Mock, time.Time, error) {
	var mocks []flowtest.Mock
	if strings.TrimSpace(s.Mocks) != "" {
		if err := yaml.Unmarshal([]byte(s.Mocks), &mocks); err != nil {
			return nil, time.Time{}, fmt.Errorf("mocks: %v (write a YAML list as under a test's http:, e.g. - url: http://orders.test/orders/A-12345\\n  json: {status: shipped})", err)
		}
	}
	now := defaultNow()
	if s.Now != "" {
		t, err := time.Parse(time.RFC3339, s.Now)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("now: %v (RFC 3339, e.g. 2026-03-04T10:00:00Z)", err)
		}
		now = t
	}
	return mocks, now, nil
}

// startContext is the context of a conversation that starts in a state
// with variables, as a conversation test's `state:` and `vars:` do; nil
// for the flow's start.
func startContext(bot *engine.Bot, st Start) ([]byte, error) {
	if st.State == "" && len(st.Vars) == 0 {
		return nil, nil
	}
	f := bot.Flow()
	if st.State != "" && f.States[st.State] == nil {
		return nil, fmt.Errorf("the flow has no state %q", st.State)
	}
	return engine.EncodeContext(engine.Session{Flow: f.Name, Version: f.ShortHash(), State: st.State, Vars: st.Vars})
}

// engineEvent is the event the engine gets on a channel whose context is
// ctx: a pick becomes a click, or the option's number where the choice was
// shown as numbered text.
func engineEvent(e Event, ctx []byte) (engine.Event, Event, error) {
	if e.Pick != "" {
		s, _ := engine.DecodeContext(ctx)
		e = Event{Name: engine.EvClick, Click: e.Pick}
		if s.Pending != nil && s.Pending.Numbered {
			for i, o := range s.Pending.Options {
				if o.ID == e.Click {
					e = Event{Name: engine.EvMessage, Text: strconv.Itoa(i + 1)}
				}
			}
		}
	}
	ev := engine.Event{Name: e.Name, Text: e.Text, ClickID: e.Click, MediaURL: e.Media, Location: e.Location}
	switch e.Name {
	case "":
		return ev, e, errors.New("the event has no name (start, message, click, media, location, or a platform event)")
	case engine.EvHTTPResult, engine.EvSilence:
		return ev, e, fmt.Errorf("%s events come from the runtime, not from the contact", e.Name)
	case engine.EvMessage:
		if strings.TrimSpace(e.Text) == "" {
			return ev, e, errors.New("the message is empty")
		}
	case engine.EvLocation:
		if e.Location == nil {
			return ev, e, errors.New("a location event needs a location")
		}
	}
	return ev, e, nil
}

// answerer answers a turn's requests from the page's mocks, else live
// (Options.Live), else fails the turn; each request is noted in calls.
func (p *server) answerer(mocks []flowtest.Mock, calls *[]call) flowtest.Answerer {
	return func(job *engine.Job) (engine.HTTPResult, error) {
		c := call{Kind: "http", State: job.State, Method: job.Method, URL: job.URL, Headers: job.Headers, Body: string(job.Body), Async: job.Async, LLM: job.LLM}
		if job.LLM != nil {
			c.Kind = "llm"
		}
		res, err := flowtest.Answer(mocks, job)
		c.Answer = "mock"
		if err != nil && p.opts.Live != nil {
			res, err = p.opts.Live(job)
			c.Answer = "live"
		}
		if err != nil {
			c.Answer, c.Error = "none", err.Error()
		} else {
			c.Status, c.Response, c.Error = res.Status, string(res.Body), res.Err
		}
		*calls = append(*calls, c)
		return res, err
	}
}

// turn plays one event on one channel.
func (p *server) turn(w http.ResponseWriter, r *http.Request) {
	var req turnRequest
	if !readJSON(w, r, &req) {
		return
	}
	ch := channels.Normalize(req.Channel)
	if ch != req.Channel {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown channel %q (one of %s)", req.Channel, strings.Join(channels.Types, ", ")))
		return
	}
	mocks, now, err := req.parse()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	c, err := p.compile(req.File, req.Env, nil)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if c.bot == nil {
		writeError(w, http.StatusUnprocessableEntity, "the flow has errors; fix them first (see the problems panel)")
		return
	}
	ctx := []byte(req.Context)
	if len(ctx) == 0 || string(ctx) == "null" {
		if ctx, err = startContext(c.bot, req.Start); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	ev, shown, err := engineEvent(req.Event, ctx)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ev.Channel, ev.Now = ch, now
	out := turnResponse{Channel: ch, Event: shown, Packets: []channels.Packet{}, ContextMax: engine.MaxContextBytes, Errors: []scriptError{}, Trace: []engine.Transition{}, Calls: []call{}}
	ex, err := flowtest.Exchange(c.bot, ctx, ev, p.answerer(mocks, &out.Calls))
	if err != nil {
		out.Failed = err.Error()
		out.Context = json.RawMessage(ctx)
		if len(ctx) == 0 {
			out.Context = nil
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	res := ex.Result
	out.Packets = append(out.Packets, ex.Rendered.Packets...)
	out.Numbered = ex.Rendered.Numbered
	out.Context, out.ContextBytes = json.RawMessage(ex.Context), len(ex.Context)
	out.State, out.Vars, out.Done = res.Session.State, res.Session.Vars, res.Session.Done
	out.Trace = append(out.Trace, res.Trace...)
	out.Recovery = string(res.Recovery)
	for _, e := range res.Errors {
		se := scriptError{Text: e.Error()}
		var serr *script.Error
		if errors.As(e, &serr) {
			se.File, se.Line, se.Column = filepath.Base(serr.File), serr.Line, serr.Column
		}
		out.Errors = append(out.Errors, se)
	}
	writeJSON(w, http.StatusOK, out)
}

// saveRequest is the conversation to save: each channel's events in order.
type saveRequest struct {
	setup
	Name     string             `json:"name,omitempty"`
	Channels map[string][]Event `json:"channels"`
}

// save replays each channel's events with a recording and answers the
// test file (one test per channel), after running it as `flowbot test`
// would; with Options.WriteTests it is also written beside the flow.
func (p *server) save(w http.ResponseWriter, r *http.Request) {
	var req saveRequest
	if !readJSON(w, r, &req) {
		return
	}
	mocks, now, err := req.parse()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Name == "" {
		req.Name = "played in the playground"
	}
	var file flowtest.File
	var warnings []string
	for _, ch := range channels.Types {
		events, ok := req.Channels[ch]
		if !ok {
			continue
		}
		if len(events) == 0 {
			continue
		}
		rec := flowtest.NewRecording(req.Name+" ("+ch+")", ch, req.Start.State, req.Start.Vars)
		f, err := p.replay(rec, req.setup, ch, events, mocks, now)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		if file.Flow == "" {
			file.Flow = f.Flow
		}
		for k, v := range f.Env {
			if file.Env == nil {
				file.Env = map[string]string{}
			}
			file.Env[k] = v
		}
		file.Tests = append(file.Tests, f.Tests...)
		warnings = append(warnings, rec.Warnings()...)
	}
	if len(file.Tests) == 0 {
		writeError(w, http.StatusBadRequest, "nothing to save: play a turn first")
		return
	}
	var b bytes.Buffer
	if err := flowtest.Write(&b, file); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	name := strings.TrimSuffix(strings.TrimSuffix(req.File, ".yaml"), ".yml") + "_playground_test.yaml"
	out := map[string]any{"file": name, "yaml": b.String(), "warnings": warnings}
	passed, failures, err := p.check(name, file)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "the saved test does not run: "+err.Error())
		return
	}
	out["passed"], out["failures"] = passed, failures
	if p.opts.WriteTests {
		path := filepath.Join(p.opts.Dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot write the test file: %v", err))
			return
		}
		out["written"] = path
	}
	writeJSON(w, http.StatusOK, out)
}

// replay plays one channel's events again with the recording and returns
// its test file.
func (p *server) replay(rec *flowtest.Recording, s setup, ch string, events []Event, mocks []flowtest.Mock, now time.Time) (flowtest.File, error) {
	c, err := p.compile(s.File, s.Env, rec.Env)
	if err != nil {
		return flowtest.File{}, err
	}
	if c.bot == nil {
		return flowtest.File{}, errors.New("the flow has errors; fix them first (see the problems panel)")
	}
	ctx, err := startContext(c.bot, s.Start)
	if err != nil {
		return flowtest.File{}, err
	}
	var calls []call
	answer := rec.Answerer(p.answerer(mocks, &calls))
	for i, e := range events {
		ev, _, err := engineEvent(e, ctx)
		if err != nil {
			return flowtest.File{}, fmt.Errorf("%s, turn %d: %v", ch, i+1, err)
		}
		ev.Channel, ev.Now = ch, now
		ex, err := flowtest.Exchange(c.bot, ctx, ev, answer)
		if err != nil {
			return flowtest.File{}, fmt.Errorf("%s, turn %d: %v", ch, i+1, err)
		}
		ctx = ex.Context
		if err := rec.Turn(ev, ex); err != nil {
			return flowtest.File{}, fmt.Errorf("%s, turn %d: %v", ch, i+1, err)
		}
	}
	return rec.File(filepath.Base(c.path)), nil
}

// check runs a saved test file as `flowbot test` would: a copy naming
// the flow by its absolute path, in a temporary folder.
func (p *server) check(name string, f flowtest.File) (int, []string, error) {
	dir, err := os.MkdirTemp("", "flowbot-playground-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	if f.Flow, err = filepath.Abs(filepath.Join(p.opts.Dir, f.Flow)); err != nil {
		return 0, nil, err
	}
	var b bytes.Buffer
	if err := flowtest.Write(&b, f); err != nil {
		return 0, nil, err
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return 0, nil, err
	}
	rep, err := flowtest.RunFile(path, flows.Options{Env: p.opts.Env})
	if err != nil {
		return 0, nil, err
	}
	failures := []string{}
	for _, fl := range rep.Failures {
		failures = append(failures, strings.ReplaceAll(fl.String(), path, name))
	}
	return rep.Passed, failures, nil
}

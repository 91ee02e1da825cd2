package engine

import "testing"

// TestAwaits: a session awaits the job its http or llm state waits for,
// and nothing when it is done, foreign, of another flow or elsewhere.
func TestAwaits(t *testing.T) {
	bot := load(t, `
name: aw
start: look
states:
  look: {http: {url: "http://x/"}, next: think}
  think: {llm: {system: "Hi"}, next: idle}
  idle: {wait: true, next: look}
`)
	f := bot.Flow()
	s := func(state string, await int) Session {
		return Session{Flow: f.Name, Version: f.ShortHash(), State: state, JobSeq: await, AwaitSeq: await}
	}
	for _, c := range []struct {
		s    Session
		want int
	}{
		{s("look", 3), 3}, {s("think", 4), 4}, {s("idle", 4), 0}, {s("look", 0), 0},
		{func() Session { x := s("look", 2); x.Done = true; return x }(), 0},
		{func() Session { x := s("look", 2); x.Foreign = true; return x }(), 0},
		{func() Session { x := s("look", 2); x.Flow = "other"; return x }(), 0},
		{s("gone", 2), 0},
	} {
		if got := bot.Awaits(c.s); got != c.want {
			t.Errorf("%+v: awaits %d, want %d", c.s, got, c.want)
		}
	}
	// Step agrees: the awaited result is taken, another one ignored.
	if r := bot.Step(s("think", 4), Event{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: 3, Status: 200, Body: []byte("x")}}); !r.Ignored {
		t.Error("a result the session does not await was taken")
	}
	if r := bot.Step(s("think", 4), Event{Name: EvHTTPResult, HTTP: &HTTPResult{Seq: 4, Status: 200, Body: []byte("x")}}); r.Ignored || r.Session.State != "idle" {
		t.Errorf("the awaited result: ignored %v, state %q", r.Ignored, r.Session.State)
	}
}

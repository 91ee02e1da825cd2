package engine

import (
	"testing"
	"time"
)

// surveyFlow asks a score (a whole number from 0 to 10), a date within
// the next 30 days, and posts typed JSON.
const surveyFlow = `
name: survey
start: score
states:
  score:
    ask: "0 to 10?"
    expect: number
    integer: true
    min: 0
    max: 10
    save: score
    next: when
  when:
    ask: "When?"
    expect: date
    min: today
    max: today+30
    save: day
    set: {happy: "no", tags: '["a", 1]'}
    next: post
  post:
    http:
      method: POST
      url: http://api.test/answers
      json: {score: "{{ score | number }}", day: "{{ day }}", promoter: "{{ happy | boolean }}", tags: "{{ tags | json }}"}
    next: done
  done: {say: "Thanks!", do: [end]}
`

func TestNumberAndDateInputs(t *testing.T) {
	now := time.Date(2026, 12, 4, 23, 30, 0, 0, time.UTC)
	at := func(text string) Event { return Event{Name: EvMessage, Text: text, Now: now} }
	c := &convo{t: t, bot: load(t, surveyFlow)}
	c.send(start())
	for _, bad := range []string{"11", "-1", "7.5", "seven"} {
		if got := texts(c.send(at(bad))); len(got) == 0 || got[0] != "Sorry, I didn't get that." {
			t.Errorf("score %q accepted: %q", bad, got)
		}
	}
	expect(t, c.send(at("7")), "When?")
	for _, bad := range []string{"2026-12-03", "2027-01-04", "yesterday", "31.02.2026"} {
		if got := texts(c.send(at(bad))); len(got) == 0 || got[0] != "Sorry, I didn't get that." {
			t.Errorf("date %q accepted: %q", bad, got)
		}
	}
	for text, want := range map[string]string{"tomorrow": "2026-12-05", "3.1.2027": "2027-01-03", "24 Dec 2026": "2026-12-24", "Today": "2026-12-04"} {
		cc := &convo{t: t, bot: c.bot, ctx: c.ctx}
		cc.send(at(text))
		if got := cc.res.Session.Vars["day"]; got != want {
			t.Errorf("date %q saved as %q, want %q", text, got, want)
		}
	}
	c.send(at("2026-12-24"))
	job := c.res.Job
	if job == nil || string(job.Body) != `{"day":"2026-12-24","promoter":false,"score":7,"tags":["a",1]}` {
		t.Fatalf("job %+v", job)
	}
}

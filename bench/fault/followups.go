package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowbot/flowbot/bench/internal/harness"
)

// remindFlow is the flow of the follow-up clients (-follow-ups): two
// questions, each with a reminder after followUpAfter of silence.
//
//go:embed remind.yaml
var remindFlow string

// followUpAfter is the reminders' after.
const followUpAfter = 2 * time.Second

// flowsWithRemind returns a folder with the flows of dir and remindFlow.
func flowsWithRemind(dir, tmp string) (string, error) {
	out := filepath.Join(tmp, "flows")
	if err := os.MkdirAll(out, 0o750); err != nil {
		return "", err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o640); err != nil {
			return "", err
		}
	}
	return out, os.WriteFile(filepath.Join(out, "remind.yaml"), []byte(remindFlow), 0o640)
}

// remindConv is one conversation of the remind flow: started, then
// answered before its first reminder is due (or not), then silent until
// the reminder of the state it is in arrives.
type remindConv struct {
	cid, name  string
	answered   bool      // the name was answered
	answeredAt time.Time // when its answer arrived
	failed     string
}

// remindWant is the reminder a conversation must get.
func (cv *remindConv) remindWant() string {
	if cv.answered {
		return "Reminder: your colour, " + cv.name + "?"
	}
	return "Reminder: your name?"
}

var remindNext counter

// followUpWorker plays remind conversations until the run stops.
func (r *run) followUpWorker(int) {
	client := &http.Client{Timeout: 20 * time.Second}
	for !r.stopping.Load() {
		n := remindNext.next()
		cv := &remindConv{cid: "chatbot::remind:" + strconv.Itoa(n), name: "N" + strconv.Itoa(n)}
		ctx, ok := r.remindTurn(client, cv, []byte("{}"), "start", `{}`, "Your name?")
		// Half answer at once (well before the reminder is due), on
		// another instance than the start.
		if ok && mrand.IntN(2) == 0 {
			if _, ok = r.remindTurn(client, cv, ctx, "message", `{"body":"`+cv.name+`"}`, "Colour, "+cv.name+"?"); ok {
				cv.answered, cv.answeredAt = true, time.Now()
			}
		}
		if ok {
			r.awaitReminder(cv)
		}
		r.mu.Lock()
		r.reminds = append(r.reminds, cv)
		r.mu.Unlock()
	}
}

// remindTurn makes one webhook turn of cv and checks its answer says want.
func (r *run) remindTurn(client *http.Client, cv *remindConv, ctx []byte, name, payload, want string) ([]byte, bool) {
	body := harness.WebhookBody(nil, cv.cid, "web", ctx, name, payload)
	s, err := r.send(client, "webhook", func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, r.next().URL()+"/bots/remind/webhook", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	var events []harness.Event
	switch {
	case err != nil:
		cv.failed = fmt.Sprintf("%s: %v", name, err)
	case s.status != http.StatusOK || json.Unmarshal(s.body, &events) != nil:
		cv.failed = fmt.Sprintf("%s answered %d: %.200s", name, s.status, s.body)
	case !strings.Contains(strings.Join(harness.Texts(events), "\n"), want):
		// A reminder pushed before the answer can move nothing: the
		// conversation waits in the same state.
		cv.failed = fmt.Sprintf("%s answered %q, want %q", name, harness.Texts(events), want)
	}
	if cv.failed != "" {
		r.stats.fail("Userlike %s: %s", cv.cid, cv.failed)
		return nil, false
	}
	return harness.LastContext(events), true
}

// awaitReminder waits until the reminder cv must get arrived, or long
// enough for a killed instance's claim on it to expire and another to
// fire it.
func (r *run) awaitReminder(cv *remindConv) {
	deadline := time.Now().Add(followUpAfter + 3*r.c.lease + 10*time.Second)
	for time.Now().Before(deadline) {
		if p := r.pushes.Of(cv.cid); p != nil && containsText(p.Texts, cv.remindWant()) {
			return
		}
		select {
		case <-r.abort:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func containsText(texts []string, want string) bool {
	for _, t := range texts {
		if strings.Contains(t, want) {
			return true
		}
	}
	return false
}

// checkReminders counts the remind conversations: each must have got its
// reminder (else lost), and none a reminder of the state it had left when
// that reminder arrived (stale).
func (r *run) checkReminders(rep *report) {
	r.mu.Lock()
	convs := append([]*remindConv(nil), r.reminds...)
	r.mu.Unlock()
	for _, cv := range convs {
		rep.remConvs++
		if cv.failed != "" {
			rep.remFailed++
			rep.fail("Userlike %s did not complete: %s", cv.cid, cv.failed)
			continue
		}
		p := r.pushes.Of(cv.cid)
		if p == nil || !containsText(p.Texts, cv.remindWant()) {
			rep.remLost++
			rep.loss("Userlike %s: the follow-up %q was never pushed", cv.cid, cv.remindWant())
			continue
		}
		rep.remPushed++
		for _, a := range p.Arrivals {
			if cv.answered && containsText(a.Texts, "Reminder: your name?") && a.At.After(cv.answeredAt) {
				rep.remStale++
				rep.fail("Userlike %s: the reminder of the name arrived %s after the name was answered (stale)", cv.cid, a.At.Sub(cv.answeredAt).Round(time.Millisecond))
			}
		}
	}
}

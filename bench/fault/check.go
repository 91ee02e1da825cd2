package main

// What "accounted for" means.
//
// Userlike webhook mode keeps no conversation in flowbot: the state is in
// the context the platform echoes, and the only thing flowbot stores is
// the async job a turn queues (and later its push). A webhook call that got
// no answer (flowbot was killed during it) may or may not have had its
// turn; the client sends the same call again (same cid, same context, same
// message), which is the same turn again: its answer is what the platform
// keeps. So:
//
//   - every conversation must complete: each of its turns answered 200
//     after retries (connection errors while flowbot is down are expected);
//   - a lookup turn answered with the flow's error text (the order id's
//     script hit its time limit: nothing was queued, the conversation
//     stays in ask_order and asks to try again) is not a loss: the client
//     sends the order id again, as a user would, and it is counted and
//     reported apart (the Chat API's clients do the same);
//   - every lookup turn answered 200 must get its result pushed to the API
//     URL at least once (a message containing "Order <id>:"); a result that
//     never arrives once the outbox is empty is a LOSS;
//   - the same push id received more than once is an allowed redelivery
//     (flowbot died between the API's 2xx and recording it);
//   - more than one distinct push id for one conversation is allowed only
//     when the lookup turn was re-sent after an attempt that may have
//     reached flowbot (cut by a kill after it was written): that attempt
//     queued its own job. With a single attempt (or only "connection
//     refused" ones) it is a failure (a result pushed twice as two pushes).
//
// The Chat API keeps the conversation in its database and takes an
// Idempotency-Key, so its rules are exact:
//
//   - the user messages in the history are exactly those that got a 202, in
//     order, with the ids the 202s gave (a retried post never counts twice);
//   - every user message is followed by at least one bot message, and each
//     order id by its result ("Order <id>: shipped.");
//   - every bot message in the history reached the webhook receiver (by
//     webhook-id = message id) at least once, with the text of the history;
//     a bot message that did not is a LOSS; the receiver got nothing else
//     (no phantom ids) and a conversation's messages first arrived in
//     history order; an id received again carried the same body;
//   - delivery.pending is 0 for every conversation after the drain.
//
// And for both: no 5xx from flowbot at all, no 4xx to the clients'
// requests (they are well-formed), and the expected 4xx to each malformed
// request of the -bad clients.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// report is the outcome of a run.
type report struct {
	drained   bool
	drainTook time.Duration
	stopErr   error
	logs      logStats

	// Userlike
	ulConvs, ulFailed, ulLookups, ulInline, ulPushed, ulLost, ulResent, ulExtra, ulErrorPath, ulPhantom, ulFlowErrors int
	// Conversations that moved on before the result: pushed before the
	// move, dropped, or stale (pushed after the menu's answer).
	ulMoved, ulBeforeMove, ulDropped, ulStale int
	// Follow-up conversations (-follow-ups): reminders pushed, lost, stale.
	remConvs, remFailed, remPushed, remLost, remStale int
	// Chat API
	chConvs, chFailed, chSent, chOrders, chDuplicate, chBot, chLost, chMissingReply, chMissingResult, chTimeouts int
	chUserMismatch, chOutOfOrder, chPhantom, chPendingLeft, chErrorPath, chFlowErrors                            int

	failures []string // what failed, for the report
	lost     []string
}

func (rep *report) fail(format string, args ...any) {
	if len(rep.failures) < 40 {
		rep.failures = append(rep.failures, fmt.Sprintf(format, args...))
	}
}

func (rep *report) loss(format string, args ...any) {
	if len(rep.lost) < 40 {
		rep.lost = append(rep.lost, fmt.Sprintf(format, args...))
	}
}

const errorPathText = "can't reach the order system"

func (r *run) check() *report {
	rep := &report{}
	r.mu.Lock()
	ul, chats := slices.Clone(r.ul), slices.Clone(r.chats)
	r.mu.Unlock()

	// Userlike.
	known := map[string]bool{}
	for _, cv := range ul {
		known[cv.cid] = true
		rep.ulConvs++
		rep.ulFlowErrors += cv.flowErrors
		if cv.failed != "" {
			rep.ulFailed++
			rep.fail("Userlike %s did not complete: %s", cv.cid, cv.failed)
			continue
		}
		rep.ulLookups++
		if cv.maybe {
			rep.ulResent++
		}
		if cv.inline {
			rep.ulInline++
			continue
		}
		p := r.pushes.Of(cv.cid)
		if cv.moved {
			// The contact moved on (menu) before the result: a result that
			// arrives after the menu's answer is stale — it would give the
			// platform the lookup's older context.
			rep.ulMoved++
			if p == nil {
				rep.ulDropped++
				continue
			}
			before, stale := false, time.Duration(-1)
			for _, a := range p.Arrivals {
				for _, t := range a.Texts {
					if strings.Contains(t, "Order "+cv.order+":") || strings.Contains(t, errorPathText) {
						if a.At.After(cv.movedAt) {
							stale = a.At.Sub(cv.movedAt)
						} else {
							before = true
						}
					}
				}
			}
			switch {
			case stale >= 0:
				rep.ulStale++
				rep.fail("Userlike %s: the result of %s arrived %s after the answer to menu (stale)", cv.cid, cv.order, stale.Round(time.Millisecond))
			case before:
				rep.ulBeforeMove++
			default:
				rep.ulDropped++
			}
			continue
		}
		got, errPath := false, false
		if p != nil {
			for _, t := range p.Texts {
				got = got || strings.Contains(t, "Order "+cv.order+":")
				errPath = errPath || strings.Contains(t, errorPathText)
			}
		}
		switch {
		case got:
			rep.ulPushed++
		case errPath:
			rep.ulPushed++
			rep.ulErrorPath++
		default:
			rep.ulLost++
			n := 0
			if p != nil {
				n = len(p.IDs)
			}
			rep.loss("Userlike %s: lookup of %s answered 200 (attempts %d) but its result was never pushed (%d push ids for the cid)", cv.cid, cv.order, cv.attempts, n)
			continue
		}
		if len(p.IDs) > 1 {
			if cv.maybe {
				rep.ulExtra += len(p.IDs) - 1
			} else {
				rep.fail("Userlike %s: %d distinct pushes %v for one lookup turn sent once (%d attempts, none may have reached flowbot)", cv.cid, len(p.IDs), p.IDs, cv.attempts)
			}
		}
	}
	r.checkReminders(rep)
	for _, cid := range r.pushes.CIDs() {
		if strings.HasPrefix(cid, "chatbot::remind:") {
			continue
		}
		if !known[cid] {
			rep.ulPhantom++
			rep.fail("Userlike: pushes for an unknown cid %s", cid)
		}
	}

	// Chat API.
	ids := map[string]bool{} // every bot message id in the histories
	for _, cv := range chats {
		rep.chConvs++
		rep.chSent += len(cv.sent)
		rep.chTimeouts += len(cv.timeouts)
		rep.chOrders += len(cv.orders)
		for _, m := range cv.sent {
			if m.duplicate {
				rep.chDuplicate++
			}
		}
		if cv.failed != "" {
			rep.chFailed++
			rep.fail("Chat API %s (%s) did not complete: %s", cv.id, cv.user, cv.failed)
		}
		if cv.id == "" {
			continue
		}
		hist, err := r.history(cv.id)
		if err != nil {
			rep.chFailed++
			rep.fail("Chat API %s: %v", cv.id, err)
			continue
		}
		if n, err := r.deliveryPending(cv.id); err != nil || n > 0 {
			rep.chPendingLeft += max(n, 1)
			rep.fail("Chat API %s: delivery.pending %d after the drain (%v)", cv.id, n, err)
		}
		// User messages: exactly those accepted, in order.
		var users []historyMsg
		for _, m := range hist {
			if !m.FromBot {
				users = append(users, m)
			}
		}
		same := len(users) == len(cv.sent)
		for i := 0; same && i < len(users); i++ {
			same = users[i].ID == cv.sent[i].id && users[i].Text == cv.sent[i].text
		}
		if !same {
			rep.chUserMismatch++
			rep.fail("Chat API %s: the history's user messages %v are not the %d accepted ones %v", cv.id, userTexts(users), len(cv.sent), sentTexts(cv.sent))
		}
		// Replies: ≥ 1 after each user message; an order's result.
		var botOrder []string
		for i, m := range hist {
			if m.FromBot {
				rep.chBot++
				ids[m.ID] = true
				botOrder = append(botOrder, m.ID)
				d := r.recv.Received(m.ID)
				switch {
				case d == nil:
					rep.chLost++
					rep.loss("Chat API %s: bot message %s %q is in the history but never reached the webhook", cv.id, m.ID, m.Text)
				case d.Text != m.Text || d.Conversation != cv.id:
					rep.fail("Chat API %s: bot message %s reached the webhook as %q of %s, the history says %q", cv.id, m.ID, d.Text, d.Conversation, m.Text)
				}
				continue
			}
			var replies []string
			for _, b := range hist[i+1:] {
				if !b.FromBot {
					break
				}
				replies = append(replies, b.Text)
			}
			if len(replies) == 0 && !(i == len(hist)-1 && cv.failed != "") {
				rep.chMissingReply++
				rep.loss("Chat API %s: user message %s %q has no bot reply in the history", cv.id, m.ID, m.Text)
			}
			if strings.HasPrefix(m.Text, "C-") {
				all := strings.Join(replies, "\n")
				switch {
				case strings.Contains(all, "Order "+m.Text+":"):
				case strings.Contains(all, errorPathText):
					rep.chErrorPath++
				case strings.Contains(all, flowErrorText):
					rep.chFlowErrors++ // no lookup started; the client sent the id again
				default:
					rep.chMissingResult++
					rep.loss("Chat API %s: order %s has no result in the history (replies %q)", cv.id, m.Text, replies)
				}
			}
		}
		// What the receiver got for the conversation: nothing else, and in
		// history order.
		got := r.recv.Order(cv.id)
		var known []string
		for _, id := range got {
			if ids[id] {
				known = append(known, id)
			} else {
				rep.chPhantom++
				rep.fail("Chat API %s: the webhook got %s, which is not in the history", cv.id, id)
			}
		}
		if !slices.Equal(known, botOrder[:min(len(botOrder), len(known))]) {
			rep.chOutOfOrder++
			rep.fail("Chat API %s: deliveries first arrived in another order than the history's", cv.id)
		}
	}
	return rep
}

func userTexts(ms []historyMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

func sentTexts(ms []chatMsg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.text
	}
	return out
}

// logStats counts what flowbot logged.
type logStats struct {
	lines, errors, warnings, panics int
	samples                         []string
}

// add counts o's records too.
func (ls *logStats) add(o logStats) {
	ls.lines += o.lines
	ls.errors += o.errors
	ls.warnings += o.warnings
	ls.panics += o.panics
	for _, s := range o.samples {
		if len(ls.samples) < 10 {
			ls.samples = append(ls.samples, s)
		}
	}
}

// scanLog counts the error and warning records of flowbot's log.
func scanLog(path string) logStats {
	var ls logStats
	f, err := os.Open(path)
	if err != nil {
		return ls
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seen := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		ls.lines++
		switch {
		case strings.Contains(line, "level=ERROR"):
			ls.errors++
			msg := line
			if i := strings.Index(line, "msg="); i >= 0 {
				msg = line[i:]
				if j := strings.Index(msg, " conversation="); j > 0 {
					msg = msg[:j]
				}
				if len(msg) > 160 {
					msg = msg[:160]
				}
			}
			if !seen[msg] && len(ls.samples) < 10 {
				seen[msg] = true
				ls.samples = append(ls.samples, msg)
			}
		case strings.Contains(line, "level=WARN"):
			ls.warnings++
		}
		if strings.Contains(line, "panic") {
			ls.panics++
		}
	}
	return ls
}

// print writes the summary and reports whether the run passed.
func (rep *report) print(out io.Writer, r *run, took time.Duration) bool {
	r.mu.Lock()
	ch := r.chaos
	r.mu.Unlock()
	st := r.stats
	fmt.Fprintf(out, "\n==== fault run summary (%s) ====\n", took.Round(time.Second))
	avg := time.Duration(0)
	if ch.restarts > 0 {
		avg = ch.restart / time.Duration(ch.restarts)
	}
	fmt.Fprintf(out, "faults: flowbot SIGKILLed %d times, restarted %d times (start to /healthz 200: min %s, avg %s, max %s); %d starts in all\n",
		ch.kills, ch.restarts, ch.restartMin.Round(time.Millisecond), avg.Round(time.Millisecond), ch.restartMax.Round(time.Millisecond), r.starts())
	var downs []string
	for k, n := range ch.downs {
		downs = append(downs, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(downs)
	fmt.Fprintf(out, "receiver outages: %s; requests refused with 503 by the Userlike API %d, by the webhook receiver %d\n",
		strings.Join(downs, ", "), r.pushEP.Refused(), r.recvEP.Refused())

	st.mu.Lock()
	fmt.Fprintf(out, "flowbot's answers: webhook %v, Chat API %v, malformed requests %v; connection errors (flowbot down): webhook %d, Chat API %d, malformed %d\n",
		st.status["webhook"], st.status["api"], st.status["bad"], st.conn["webhook"], st.conn["api"], st.conn["bad"])
	st.mu.Unlock()
	n5, n4 := st.count5xx(), st.count4xx()

	fmt.Fprintf(out, "\nUserlike webhook mode: %d conversations (%d did not complete); lookup turns answered %d (%d re-sent after an attempt that may have run; %d answered inline)\n",
		rep.ulConvs, rep.ulFailed, rep.ulLookups, rep.ulResent, rep.ulInline)
	preq, pdistinct, predelivered, pbad := r.pushes.Totals()
	orders, _ := r.orders.Requests("")
	fmt.Fprintf(out, "  results pushed %d, LOST %d; error-path results %d; pushes: %d distinct push ids in %d requests, %d push ids redelivered (same id), %d extra pushes from re-sent turns; pushes for unknown cids %d; bad push requests %d\n",
		rep.ulPushed, rep.ulLost, rep.ulErrorPath, pdistinct, preq, predelivered, rep.ulExtra, rep.ulPhantom, len(pbad))
	fmt.Fprintf(out, "  order API requests %d (for %d lookups)\n", orders, rep.ulLookups+rep.chOrders)
	if rep.remConvs > 0 {
		fmt.Fprintf(out, "  follow-ups: %d conversations (%d did not complete); reminder pushed %d, LOST %d, STALE (a state already left) %d\n",
			rep.remConvs, rep.remFailed, rep.remPushed, rep.remLost, rep.remStale)
	}
	fmt.Fprintf(out, "  moved on (menu) before the result: %d conversations; result pushed before the menu's answer %d, dropped %d, STALE (arrived after it) %d\n",
		rep.ulMoved, rep.ulBeforeMove, rep.ulDropped, rep.ulStale)
	rreq, rdistinct, rdup, rbad := r.recv.Totals()
	fmt.Fprintf(out, "\nChat API: %d conversations (%d did not complete); user messages accepted (202) %d, of which %d answered duplicate:true after a retry\n",
		rep.chConvs, rep.chFailed, rep.chSent, rep.chDuplicate)
	fmt.Fprintf(out, "  bot messages in the histories %d, reached the webhook %d distinct (%d deliveries in all, %d ids delivered more than once), LOST %d\n",
		rep.chBot, rdistinct, rreq, rdup, rep.chLost)
	fmt.Fprintf(out, "  user messages ≠ accepted %d; user messages without reply %d; orders without result %d (error path %d, client waits timed out %d); out of order %d; phantom deliveries %d; bad deliveries (signature, body) %d; delivery.pending left %d\n",
		rep.chUserMismatch, rep.chMissingReply, rep.chMissingResult, rep.chErrorPath, rep.chTimeouts, rep.chOutOfOrder, rep.chPhantom, len(rbad), rep.chPendingLeft)

	st.mu.Lock()
	fmt.Fprintf(out, "\nanswers with the flow's error text (%q: the turn took the flow's error path, e.g. a script time-out; the client sent the order id again): Userlike %d, Chat API %d (in the histories %d)\n",
		flowErrorText, rep.ulFlowErrors, st.nflow-rep.ulFlowErrors, rep.chFlowErrors)
	for _, f := range st.flowErrs {
		fmt.Fprintln(out, "  ", f)
	}
	st.mu.Unlock()

	exits, exitOK := r.exitStates()
	fmt.Fprintf(out, "\ndrain: %v after %s; graceful stop (SIGTERM) at the end: %s (%s)\n", rep.drained, rep.drainTook.Round(time.Millisecond), errText(rep.stopErr), exits)
	fmt.Fprintf(out, "flowbot log: %d lines, %d errors, %d warnings, %d mentioning panic\n", rep.logs.lines, rep.logs.errors, rep.logs.warnings, rep.logs.panics)
	for _, s := range rep.logs.samples {
		fmt.Fprintln(out, "  error:", s)
	}

	for _, b := range pbad {
		rep.fail("bad push: %s", b)
	}
	for _, b := range rbad {
		rep.fail("bad delivery: %s", b)
	}
	lost := rep.ulLost + rep.chLost + rep.chMissingReply + rep.chMissingResult + rep.remLost
	failed := !exitOK || n5 > 0 || n4 > 0 || lost > 0 || len(rep.failures) > 0 || !rep.drained || rep.stopErr != nil || rep.logs.panics > 0 ||
		rep.chUserMismatch+rep.chOutOfOrder+rep.chPhantom+rep.chPendingLeft+rep.ulFailed+rep.chFailed+rep.ulStale+rep.remStale+rep.remFailed > 0
	st.mu.Lock()
	if st.nfail > 0 {
		failed = true
		fmt.Fprintf(out, "\nfailures seen by the clients (%d; first %d):\n", st.nfail, len(st.failures))
		for _, f := range st.failures {
			fmt.Fprintln(out, "  ", f)
		}
	}
	st.mu.Unlock()
	if len(rep.lost) > 0 {
		fmt.Fprintf(out, "\nlosses (first %d):\n", len(rep.lost))
		for _, l := range rep.lost {
			fmt.Fprintln(out, "  ", l)
		}
	}
	if len(rep.failures) > 0 {
		fmt.Fprintf(out, "\nfailures (first %d):\n", len(rep.failures))
		for _, f := range rep.failures {
			fmt.Fprintln(out, "  ", f)
		}
	}
	verdict := "PASS"
	if failed {
		verdict = "FAIL"
	}
	fmt.Fprintf(out, "\nRESULT: %s — lost messages %d (Userlike pushes %d, Chat API deliveries %d, replies %d, results %d), 5xx %d, 4xx %d\n",
		verdict, lost, rep.ulLost, rep.chLost, rep.chMissingReply, rep.chMissingResult, n5, n4)
	return !failed
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

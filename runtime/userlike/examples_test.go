package userlike_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

func wantNames(t *testing.T, r platformtest.Reply, want ...string) {
	t.Helper()
	if got := r.Names(); !slices.Equal(got, want) {
		t.Fatalf("packets %v, want %v\nbody: %s", got, want, r.Body)
	}
}

func wantPayload(t *testing.T, p platformtest.Packet, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(p.Payload, want) {
		t.Fatalf("%s payload %v, want %v", p.Name, p.Payload, want)
	}
}

// TestNameEmailForward plays the name-email-forward example start to
// finish, as Userlike would.
func TestNameEmailForward(t *testing.T) {
	for _, channel := range []string{"web", "whatsapp_business", "sms", ""} {
		t.Run("channel="+channel, func(t *testing.T) {
			srv := serveHTTP(t, newHandler(t, userlike.Options{Logger: testLogger(t)}))
			p := platformFor(srv, "name-email-forward")
			c := p.Conversation("chatbot::258:a56785fb6fb84edd890905913b0c0821", channel)

			r := must(t)(c.Start(""))
			wantNames(t, r, "message")
			if got := r.Texts()[0]; got != "Welcome! I am a bot. What is your name?" {
				t.Fatalf("greeting %q", got)
			}

			r = must(t)(c.Say("Ada Lovelace"))
			wantNames(t, r, "contact_update", "message")
			wantPayload(t, r.Packets[0], map[string]any{"name": "Ada Lovelace"})
			if got := r.Texts()[0]; got != "Hello Ada Lovelace! Could you tell me your email as well?" {
				t.Fatalf("greeting by name: %q", got)
			}

			r = must(t)(c.Say("ada at example dot com"))
			wantNames(t, r, "message")
			if got := r.Texts()[0]; !strings.Contains(got, "doesn't look like an email") {
				t.Fatalf("invalid email not re-asked: %q", got)
			}

			r = must(t)(c.Say("ada@example.com"))
			wantNames(t, r, "contact_update", "message", "forward_any")
			wantPayload(t, r.Packets[0], map[string]any{"email": "ada@example.com"})
			if got := r.Texts()[0]; !strings.HasPrefix(got, "Thanks!") {
				t.Fatalf("thanks: %q", got)
			}
			wantPayload(t, r.Packets[2], map[string]any{"on_failure": "feedback"})

			// No operator: Userlike sends forward_failed, the flow apologizes and ends.
			r = must(t)(c.Send("forward_failed", map[string]any{}))
			wantNames(t, r, "message", "end")
		})
	}
}

// TestCampaignSignup plays the campaign-signup example on WhatsApp.
func TestCampaignSignup(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{Logger: testLogger(t)}))
	p := platformFor(srv, "campaign-signup")

	// The seed sends contact_update then the confirmation; the flow says
	// first. Userlike applies both either way, so the order is not checked.
	subscribed := func(t *testing.T, r platformtest.Reply) {
		t.Helper()
		names := r.Names()
		slices.Sort(names)
		if !slices.Equal(names, []string{"contact_update", "message"}) {
			t.Fatalf("want contact_update and a confirmation, got %v: %s", r.Names(), r.Body)
		}
		cu, _ := r.Find("contact_update")
		wantPayload(t, cu, map[string]any{"campaigns": true})
		if got := r.Texts()[0]; got != "You've been subscribed to the campaign!" {
			t.Fatalf("confirmation %q", got)
		}
	}

	t.Run("start shows a button template", func(t *testing.T) {
		c := p.Conversation("c-start", "whatsapp_business")
		r := must(t)(c.Start(""))
		wantNames(t, r, "button_template")
		pl := r.Packets[0].Payload
		if pl["body"] != "Welcome! Please click 'start' to subscribe to our campaign." || pl["fallback"] == "" {
			t.Fatalf("button_template %v", pl)
		}
		wantOptions := []any{map[string]any{"id": "start", "label": "start"}}
		if !reflect.DeepEqual(pl["options"], wantOptions) {
			t.Fatalf("options %v, want %v", pl["options"], wantOptions)
		}
	})
	t.Run("click start subscribes", func(t *testing.T) {
		c := p.Conversation("c-click", "whatsapp_business")
		must(t)(c.Start(""))
		subscribed(t, must(t)(c.Click("start")))
	})
	for _, typed := range []string{"START", "sTaRt", "  start "} {
		t.Run("typed "+typed, func(t *testing.T) {
			c := p.Conversation("c-typed-"+typed, "whatsapp_business")
			must(t)(c.Start(""))
			subscribed(t, must(t)(c.Say(typed)))
			// Typed again later, it subscribes again.
			subscribed(t, must(t)(c.Say(strings.ToLower(typed))))
		})
	}
	t.Run("the keyword in the start event", func(t *testing.T) {
		c := p.Conversation("c-first", "whatsapp_business")
		subscribed(t, must(t)(c.Start("Start")))
	})
	t.Run("anything else goes to support", func(t *testing.T) {
		c := p.Conversation("c-else", "whatsapp_business")
		must(t)(c.Start(""))
		r := must(t)(c.Say("what is this?"))
		wantNames(t, r, "message", "forward_any")
		if got := r.Texts()[0]; got != "I don't understand this, I will redirect you to support." {
			t.Fatalf("message %q", got)
		}
	})
	t.Run("campaign_unsubscribe is accepted without a second confirmation", func(t *testing.T) {
		// Userlike matches the keyword and confirms it itself (seed 003):
		// the answer only carries the new context.
		c := p.Conversation("c-unsub", "whatsapp_business")
		must(t)(c.Start(""))
		subscribed(t, must(t)(c.Click("start")))
		r := must(t)(c.Send("campaign_unsubscribe", map[string]any{}))
		if len(r.Texts()) != 0 || !slices.Equal(r.Names(), []string{"delay"}) {
			t.Fatalf("unsubscribe answer %v: %s", r.Names(), r.Body)
		}
		subscribed(t, must(t)(c.Say("start")))
	})
	t.Run("a proactive chat is greeted differently", func(t *testing.T) {
		bodies := map[string]string{}
		for _, mode := range []string{"normal", "proactive"} {
			c := p.Conversation("c-"+mode, "web")
			c.Info = map[string]any{"approach_mode": mode}
			r := must(t)(c.Start(""))
			wantNames(t, r, "button_template")
			pl := r.Packets[0].Payload
			if !reflect.DeepEqual(pl["options"], []any{map[string]any{"id": "start", "label": "start"}}) {
				t.Fatalf("%s: options %v", mode, pl["options"])
			}
			bodies[mode] = pl["body"].(string)
			subscribed(t, must(t)(c.Click("start")))
		}
		if bodies["normal"] != "Welcome! Please click 'start' to subscribe to our campaign." ||
			!strings.HasPrefix(bodies["proactive"], "Hi! Sorry to pop up") {
			t.Fatalf("greetings %q", bodies)
		}
	})
}

// TestNumberedReplyOnAnotherInstance checks that a reply of "2" to a choice
// shown as numbered text is read as a click, by a handler that did not send
// the choice: the numbering travels in the context.
func TestNumberedReplyOnAnotherInstance(t *testing.T) {
	a := serveHTTP(t, newHandler(t, userlike.Options{}))
	b := serveHTTP(t, newHandler(t, userlike.Options{}))
	p := platformFor(a, "webshop")
	c := p.Conversation("c-numbered", "telegram")
	r := must(t)(c.Start(""))
	last := r.Texts()[len(r.Texts())-1]
	if !strings.Contains(last, "1. Delivery status") || !strings.Contains(last, "2. Return an item") {
		t.Fatalf("menu not numbered on telegram: %q", last)
	}
	p.SetURL(b.URL + "/bots/webshop/webhook")
	r = must(t)(c.Say("2"))
	if len(r.Texts()) == 0 || !strings.Contains(r.Texts()[0], "Returns are free") {
		t.Fatalf("reply 2 not read as the second option: %v", r.Texts())
	}
}

// TestParallelConversations runs 200 interleaved conversations at once; each
// must end with its own data.
func TestParallelConversations(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	p := platformFor(srv, "name-email-forward")
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			cid := fmt.Sprintf("chatbot::1:%04d", i)
			name := fmt.Sprintf("Person %d", i)
			email := fmt.Sprintf("person%d@example.com", i)
			c := p.Conversation(cid, []string{"web", "whatsapp_business", "facebook", "sms"}[i%4])
			steps := []struct {
				send func() (platformtest.Reply, error)
				key  string
				want string
			}{
				{func() (platformtest.Reply, error) { return c.Start("") }, "", ""},
				{func() (platformtest.Reply, error) { return c.Say(name) }, "name", name},
				{func() (platformtest.Reply, error) { return c.Say(email) }, "email", email},
			}
			for _, s := range steps {
				r, err := s.send()
				if err != nil || r.Status != 200 {
					errs <- fmt.Errorf("%s: status %d, %v", cid, r.Status, err)
					return
				}
				if s.key == "" {
					continue
				}
				cu, ok := r.Find("contact_update")
				if !ok || cu.Payload[s.key] != s.want || len(cu.Payload) != 1 {
					errs <- fmt.Errorf("%s: contact_update %v, want %s=%q", cid, cu.Payload, s.key, s.want)
					return
				}
				if s.key == "name" && r.Texts()[0] != "Hello "+name+"! Could you tell me your email as well?" {
					errs <- fmt.Errorf("%s: greeted as %q", cid, r.Texts()[0])
					return
				}
			}
			// Every packet of this conversation carried its own cid.
			for _, pk := range p.Packets(cid) {
				if pk.CID != cid {
					errs <- fmt.Errorf("%s: packet for %s", cid, pk.CID)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

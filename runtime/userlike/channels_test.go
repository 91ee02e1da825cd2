package userlike_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

var webshopIDs = []string{"delivery", "returns", "hours", "human"}

func optionIDs(p platformtest.Packet) []string {
	var ids []string
	opts, _ := p.Payload["options"].([]any)
	for _, o := range opts {
		if m, ok := o.(map[string]any); ok {
			ids = append(ids, fmt.Sprint(m["id"]))
		}
	}
	return ids
}

// TestWebshopMenuPerChannel: one choice in the flow, the form each channel
// can show, over HTTP.
func TestWebshopMenuPerChannel(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	p := platformFor(srv, "webshop")
	for channel, form := range map[string]string{
		"web": "bubbles", "whatsapp_business": "list_template", "facebook": "bubbles",
		"sms": "message", "telegram": "message", "threema": "message", "custom": "message",
	} {
		r := must(t)(p.Conversation("chatbot::menu:"+channel, channel).Start(""))
		wantNames(t, r, "message", form)
		menu := r.Packets[1]
		if form == "message" {
			want := "Please reply with the number of an option:\n1. Delivery status\n2. Return an item\n3. Opening hours\n4. Talk to a human"
			if got := r.Texts()[1]; got != want {
				t.Errorf("%s: numbered text %q", channel, got)
			}
			continue
		}
		if got := strings.Join(optionIDs(menu), ","); got != strings.Join(webshopIDs, ",") {
			t.Errorf("%s: options %s", channel, got)
		}
	}
}

func TestNumberedAndTypedReplies(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	p := platformFor(srv, "webshop")

	sms := p.Conversation("chatbot::sms", "sms")
	must(t)(sms.Start(""))
	r := must(t)(sms.Say("9")) // not an option: the menu comes again
	wantNames(t, r, "message", "message")
	if !strings.HasPrefix(r.Texts()[1], "Please reply with the number of an option:\n1. Delivery status") {
		t.Fatalf("9 did not re-send the menu: %q", r.Texts())
	}
	r = must(t)(sms.Say("1"))
	if got := r.Texts(); len(got) != 1 || !strings.HasPrefix(got[0], "Please send me your order id") {
		t.Fatalf("1 did not pick Delivery status: %q", got)
	}

	tg := p.Conversation("chatbot::telegram", "telegram")
	must(t)(tg.Start(""))
	r = must(t)(tg.Say("  delivery STATUS "))
	if got := r.Texts(); len(got) != 1 || !strings.HasPrefix(got[0], "Please send me your order id") {
		t.Fatalf("typed label did not pick Delivery status: %q", got)
	}

	// On WhatsApp a late tap on an old button arrives as its label: still a click.
	wa := p.Conversation("chatbot::wa", "whatsapp_business")
	must(t)(wa.Start(""))
	must(t)(wa.Click("hours"))
	r = must(t)(wa.Say("Talk to a human"))
	wantNames(t, r, "message", "forward_any")
}

// TestLongMessageSplit: a body over 5,000 characters arrives as several
// messages, cut at paragraph or sentence boundaries, never mid-word.
func TestLongMessageSplit(t *testing.T) {
	var para []string
	for i := 0; len(strings.Join(para, "\n\n")) < 12000; i++ {
		para = append(para, strings.Repeat(fmt.Sprintf("Sentence number %d is here. ", i), 9))
	}
	long := strings.Join(para, "\n\n")
	src := fmt.Sprintf("name: long\nstart: a\nstates:\n  a:\n    say: %q\n    do: [end]\n", long)
	f, lints := flows.Parse("long.yaml", []byte(src), flows.Options{})
	if f == nil {
		t.Fatal(lints)
	}
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	p := platformFor(serveHTTP(t, h), "long")
	for _, channel := range []string{"web", "sms"} {
		r := must(t)(p.Conversation("chatbot::long:"+channel, channel).Start(""))
		texts := r.Texts()
		if len(texts) < 3 {
			t.Fatalf("%s: %d messages for %d characters", channel, len(texts), len(long))
		}
		var joined []string
		for _, m := range texts {
			if n := utf8.RuneCountInString(m); n > 5000 {
				t.Errorf("%s: a message of %d characters", channel, n)
			}
			if !strings.HasSuffix(strings.TrimSpace(m), ".") {
				t.Errorf("%s: cut mid-sentence: …%q", channel, m[max(0, len(m)-30):])
			}
			joined = append(joined, strings.TrimSpace(m))
		}
		if strings.Join(strings.Fields(strings.Join(joined, " ")), " ") != strings.Join(strings.Fields(long), " ") {
			t.Errorf("%s: text lost or changed in the split", channel)
		}
	}
}

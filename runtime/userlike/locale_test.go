package userlike_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
)

// One flow answers in English, then in German once the contact picks
// German, over the webhook with the context echoed by the platform; the
// German label typed back is its click.
func TestMultilingualOverWebhook(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	c := platformFor(srv, "multilingual").Conversation("chatbot::1:ml", "sms")
	c.Contact = map[string]any{"name": "Ada", "locale": "en"}
	ok := must(t)
	if got := ok(c.Start("")).Texts(); !slices.Equal(got, []string{"Welcome! Which language do you prefer?\n1. English\n2. Deutsch"}) {
		t.Fatalf("start: %q", got)
	}
	r := ok(c.Say("2"))
	upd, found := r.Find("conversation_update")
	if !found || upd.Payload["locale"] != "de" {
		t.Fatalf("no conversation_update {locale: de}: %s", r.Body)
	}
	if got := r.Texts(); len(got) != 1 || !strings.HasPrefix(got[0], "Bitte klicken Sie auf „anmelden“") {
		t.Fatalf("not German after picking German: %q", got)
	}
	if ctx := string(c.P.Context(c.CID)); !strings.Contains(ctx, `"locale":"de"`) {
		t.Errorf("the locale is not in the echoed context: %s", ctx)
	}
	r = ok(c.Say("Anmelden"))
	if _, found := r.Find("contact_update"); !found || !slices.Equal(r.Texts(), []string{"Sie sind jetzt für die Kampagne angemeldet!"}) {
		t.Fatalf("the German label typed back is not its click: %s", r.Body)
	}
}

// The platform's locale (info.contact.locale), read at the start, is the
// language until the contact picks one; the context keeps it.
func TestMultilingualPlatformLocale(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	c := platformFor(srv, "multilingual").Conversation("chatbot::1:de", "web")
	c.Contact = map[string]any{"locale": "de_DE"}
	r := must(t)(c.Start(""))
	if !strings.Contains(string(r.Body), "Willkommen! Welche Sprache möchten Sie?") {
		t.Fatalf("not German with a German platform locale: %s", r.Body)
	}
	c.Contact = nil
	if got := must(t)(c.Say("?")).Texts(); len(got) == 0 || got[0] != "Entschuldigung, das habe ich nicht verstanden." {
		t.Fatalf("the platform's locale is not kept: %q", got)
	}
}

// monolingual is the multilingual example without its `locales`, named
// monolingual: the same flow in one language.
func monolingual(b *testing.B) *flows.Flow {
	src, err := os.ReadFile("../../examples/multilingual.yaml")
	if err != nil {
		b.Fatal(err)
	}
	one := strings.Replace(strings.Replace(string(src), "locales: [en, de]\n", "", 1), "name: multilingual", "name: monolingual", 1)
	f, lints := flows.Parse("monolingual.yaml", []byte(one), flows.Options{})
	if f == nil {
		b.Fatal(lints)
	}
	return f
}

// Userlike's conversation locale (info.conversation.locale) wins over the
// contact's.
func TestMultilingualConversationLocale(t *testing.T) {
	srv := serveHTTP(t, newHandler(t, userlike.Options{}))
	c := platformFor(srv, "multilingual").Conversation("chatbot::1:conv", "")
	c.Contact = map[string]any{"locale": "en"}
	c.Info = map[string]any{"conversation": map[string]any{"contact_channel": map[string]any{"type": "sms"}, "locale": "de_DE"}}
	if got := must(t)(c.Start("")).Texts(); len(got) != 1 || !strings.HasPrefix(got[0], "Willkommen!") {
		t.Fatalf("not German with a German conversation locale: %q", got)
	}
}

// multilingualClick is campaignClick for the multilingual flow at path, in
// German: the click on "start" after the contact picked German.
func multilingualClick(b *testing.B, h http.Handler, path string) []byte {
	ctx := json.RawMessage(`{}`)
	for _, packet := range []string{`{"name":"start","payload":{}}`, `{"name":"click","payload":{"value":{"id":"de"}}}`} {
		body := `{"info":{"cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","context":` + string(ctx) + `,` +
			`"conversation":{"contact_channel":{"state":"valid","type":"whatsapp_business"}},` +
			`"contact":{"name":"Ada","email":"ada@example.com","mobile_number":"+4915112345678","locale":"de_DE"}},"packet":` + packet + `}`
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader([]byte(body))))
		var events []userlike.OutEvent
		if err := json.Unmarshal(rec.Body.Bytes(), &events); err != nil || len(events) == 0 {
			b.Fatalf("%v %s", err, rec.Body)
		}
		ctx = events[len(events)-1].Info.Context
	}
	return []byte(`{"info":{"cid":"chatbot::258:a56785fb6fb84edd890905913b0c0821","context":` + string(ctx) + `,` +
		`"conversation":{"contact_channel":{"state":"valid","type":"whatsapp_business"}},` +
		`"contact":{"name":"Ada","email":"ada@example.com","mobile_number":"+4915112345678","locale":"de_DE"}},` +
		`"packet":{"name":"click","payload":{"value":{"id":"start","label":"anmelden"}}}}`)
}

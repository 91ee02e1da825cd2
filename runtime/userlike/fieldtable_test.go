package userlike_test

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/userlike"
	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

var updateFields = flag.Bool("update-fields", false, "rewrite the generated field table of docs/userlike.md")

// fieldsFlow reads every field of seed 003 a flow can read and produces
// every packet flowbot sends.
const fieldsFlow = `
name: fields
start: hello
states:
  hello:
    say: "mode={{ conversation.approach_mode }} widget={{ conversation.widget.name }} subject={{ conversation.subject }} topics={{ conversation.topics }} locale={{ conversation.locale }} tier={{ conversation.custom_fields.tier }} channel={{ channel }} name={{ contact.name }} email={{ contact.email }} text={{ event.text }}"
    next: menu
  menu:
    choice:
      text: "Pick"
      fallback: "Reply with a number:"
      options:
        - {id: all, label: Everything, goto: all}
        - {id: buttons, label: Buttons, goto: buttons}
        - {id: list, label: List, goto: list}
        - {id: cards, label: Cards, goto: cards}
        - {id: human, label: Human, goto: human}
        - {id: group, label: Group, goto: group}
        - {id: skills, label: Skills, goto: skills}
        - {id: stop, label: Stop, goto: stop}
        - {id: bye, label: Bye, goto: bye}
        - {id: upload, label: Upload, goto: upload}
    on:
      media: got_media
      location: got_location
      campaign_unsubscribe: unsubscribed
  all:
    say:
      - {markdown: "**Free** returns"}
      - {image: "https://cdn.example/a.png", caption: "A picture"}
      - {text: "Links", buttons: [{label: Shop, url: "https://shop.example"}]}
      - {navigate: "https://shop.example/checkout"}
      - {delay: 1.5}
      - "After the pause"
    do:
      - contact_update: {name: Ada, email: ada@example.com, mobile_number: "+49 1", external_customer_id: "c-1", custom_fields: {tier: gold}, campaigns: true}
      - conversation_update: {subject: Order, topics: [billing], locale: de_DE, custom_fields: {order: A-1}}
      - note_create: {body: "A note"}
      - addon_dispatch: {type: salesforce}
      - email_dispatch: {recipient_type: contact}
    next: menu
  buttons:
    choice:
      form: button_template
      text: "Yes or no?"
      header: "Question"
      footer: "Footer"
      options:
        - {id: yes, label: "Yes", goto: menu}
        - {id: no, label: "No", goto: menu}
  list:
    choice:
      form: list_template
      text: "Which size?"
      header: "Sizes"
      footer: "VAT included"
      button: "Sizes"
      options:
        - {id: s, label: Small, description: "36-38", goto: menu}
  cards:
    choice:
      form: carousel
      text: "A colour"
      options:
        - {id: red, label: Red, image: "https://cdn.example/red.png", description: Bright, goto: menu}
  human:
    do: [{forward_any: {on_failure: feedback}}]
    on:
      forward_failed: nobody
  nobody:
    say: "Nobody is there."
    next: menu
  group:
    do: [{forward_group: {group_id: 7}}]
  skills:
    do: [{forward_skills: {skills: [de, billing]}}]
  stop:
    do: [abort]
  bye:
    do: [end]
  upload:
    ask: "Send a file"
    expect: media
    save: file
    next: got_file
  got_file:
    say: "Got {{ file }}"
    next: menu
  got_media:
    say: "Media {{ event.media }}"
    next: menu
  got_location:
    say: "Location {{ event.location }}"
    next: menu
  unsubscribed:
    say: "Noted."
    next: menu
`

// TestUserlikeFieldTable is seed 003's fields, in and out, each row a
// subtest over HTTP with the platform emulator; docs/userlike.md's field
// table is generated from the rows (-update-fields rewrites it).
func TestUserlikeFieldTable(t *testing.T) {
	f, lints := flows.Parse("fields.yaml", []byte(fieldsFlow), flows.Options{})
	if f == nil || lints.HasErrors() {
		t.Fatal(lints)
	}
	h, err := userlike.New([]*engine.Bot{engine.New(f)}, userlike.Options{Logger: testLogger(t), Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveHTTP(t, h)
	p := platformFor(srv, "fields")
	p.Token = "s3cret"
	conv := func(cid, channel string) *platformtest.Conversation {
		c := p.Conversation(cid, channel)
		c.Contact = map[string]any{"name": "Ada", "email": "ada@example.com"}
		c.Info = map[string]any{"approach_mode": "proactive", "widget": map[string]any{"name": "Shop"},
			"conversation": map[string]any{"contact_channel": map[string]any{"type": channel}, "subject": "Order", "topics": []any{map[string]any{"name": "Billing"}},
				"locale": "de_DE", "custom_fields": map[string]any{"tier": "gold"}}}
		return c
	}
	menu := func(t *testing.T, cid, channel string) *platformtest.Conversation {
		t.Helper()
		c := conv(cid, channel)
		must(t)(c.Start(""))
		return c
	}
	payloadOf := func(t *testing.T, r platformtest.Reply, name string) map[string]any {
		t.Helper()
		pk, ok := r.Find(name)
		if !ok {
			t.Fatalf("no %s in %v: %s", name, r.Names(), r.Body)
		}
		return pk.Payload
	}
	rows := []struct {
		field, dir, does string
		check            func(t *testing.T)
	}{
		{"API-SECURITY-TOKEN (webhook header)", "in", "with `--webhook-token`, required and compared in constant time; otherwise 401", func(t *testing.T) {
			bad := platformFor(srv, "fields")
			if r, _ := bad.Conversation("c-token", "web").Start(""); r.Status != 401 {
				t.Errorf("no token: %d %s", r.Status, r.Body)
			}
		}},
		{"info.cid", "in", "required; repeated in every event of the answer", func(t *testing.T) {
			r := must(t)(conv("c-cid", "web").Start(""))
			if !strings.Contains(string(r.Body), `"cid":"c-cid"`) {
				t.Errorf("answer %s", r.Body)
			}
		}},
		{"info.context", "in/out", "flowbot's conversation state, sent with every event and read back (see *The context object*)", func(t *testing.T) {
			c := menu(t, "c-ctx", "web")
			if len(p.Context("c-ctx")) == 0 {
				t.Fatal("no context")
			}
			if r := must(t)(c.Click("bye")); !slices.Equal(r.Names(), []string{"end"}) {
				t.Errorf("the context did not carry the menu: %v", r.Names())
			}
		}},
		{"info.approach_mode", "in", "`conversation.approach_mode` in flows (`proactive` or `normal`)", func(t *testing.T) {
			r := must(t)(conv("c-mode", "web").Start(""))
			if !strings.Contains(r.Texts()[0], "mode=proactive ") {
				t.Errorf("greeting %q", r.Texts()[0])
			}
		}},
		{"info.widget", "in", "its fields are `conversation.widget.NAME`", func(t *testing.T) {
			r := must(t)(conv("c-widget", "web").Start(""))
			if !strings.Contains(r.Texts()[0], "widget=Shop ") {
				t.Errorf("greeting %q", r.Texts()[0])
			}
		}},
		{"info.conversation", "in", "its fields are `conversation.NAME`: `subject`, `locale`, `topics` (names joined by \", \"), `custom_fields.NAME`, `contact_channel.type`…", func(t *testing.T) {
			r := must(t)(conv("c-conv", "web").Start(""))
			if !strings.Contains(r.Texts()[0], "subject=Order topics=Billing locale=de_DE tier=gold ") {
				t.Errorf("greeting %q", r.Texts()[0])
			}
		}},
		{"info.conversation.contact_channel.type", "in", "the channel renderer (`channel` in flows); absent is web, unknown is custom", func(t *testing.T) {
			r := must(t)(conv("c-channel", "whatsapp_business").Start(""))
			if !strings.Contains(r.Texts()[0], "channel=whatsapp_business ") || !slices.Contains(r.Names(), "list_template") {
				t.Errorf("on WhatsApp: %v %q", r.Names(), r.Texts())
			}
		}},
		{"info.contact", "in", "its fields are `contact.NAME` (nested objects one level deep)", func(t *testing.T) {
			r := must(t)(conv("c-contact", "web").Start(""))
			if !strings.Contains(r.Texts()[0], "name=Ada email=ada@example.com ") {
				t.Errorf("greeting %q", r.Texts()[0])
			}
		}},
		{"start", "in", "starts the flow; `body` (messaging channels) is `event.text` and read as a command or answer", func(t *testing.T) {
			r := must(t)(conv("c-start", "web").Start("hello"))
			if !strings.HasSuffix(r.Texts()[0], "text=hello") {
				t.Errorf("greeting %q", r.Texts()[0])
			}
		}},
		{"message", "in", "`body`: the contact's text (a number or label answers a pending choice)", func(t *testing.T) {
			r := must(t)(menu(t, "c-msg", "web").Say("bye"))
			if !slices.Equal(r.Names(), []string{"end"}) {
				t.Errorf("a label typed: %v", r.Names())
			}
		}},
		{"click", "in", "`value.id`: the option clicked", func(t *testing.T) {
			r := must(t)(menu(t, "c-click", "web").Click("stop"))
			if !slices.Equal(r.Names(), []string{"abort"}) {
				t.Errorf("click: %v", r.Names())
			}
		}},
		{"media", "in", "`url` (or `link`): an upload, `event.media`; answers `expect: media`", func(t *testing.T) {
			r := must(t)(menu(t, "c-media", "web").Media("https://u.example/f.pdf"))
			if r.Texts()[0] != "Media https://u.example/f.pdf" {
				t.Errorf("media: %q", r.Texts())
			}
		}},
		{"location", "in", "`latitude`, `longitude` (numbers or numeric strings), `address?`", func(t *testing.T) {
			r := must(t)(menu(t, "c-loc", "whatsapp_business").Location(52.52, 13.405, "Berlin"))
			if !strings.HasPrefix(r.Texts()[0], "Location ") {
				t.Errorf("location: %q", r.Texts())
			}
		}},
		{"forward_failed", "in", "`on: forward_failed` in the flow", func(t *testing.T) {
			c := menu(t, "c-ff", "web")
			must(t)(c.Click("human"))
			if r := must(t)(c.Send("forward_failed", map[string]any{})); r.Texts()[0] != "Nobody is there." {
				t.Errorf("forward_failed: %q", r.Texts())
			}
		}},
		{"campaign_unsubscribe", "in", "`on: campaign_unsubscribe`; Userlike has unsubscribed the contact and confirmed it", func(t *testing.T) {
			if r := must(t)(menu(t, "c-unsub", "whatsapp_business").Send("campaign_unsubscribe", map[string]any{})); r.Texts()[0] != "Noted." {
				t.Errorf("campaign_unsubscribe: %q", r.Texts())
			}
		}},
		{"message", "out", "`{body, text_format?}` (`markdown_v1` for markdown on web and custom; bodies over 5,000 characters split)", func(t *testing.T) {
			r := must(t)(menu(t, "c-all-web", "web").Click("all"))
			if pl := payloadOf(t, r, "message"); pl["body"] != "**Free** returns" || pl["text_format"] != "markdown_v1" {
				t.Errorf("markdown message %v", pl)
			}
		}},
		{"bubbles", "out", "`{body, fallback, options: [{id, label}]}`: a choice on web, or as quick replies on Facebook", func(t *testing.T) {
			r := must(t)(conv("c-bubbles", "web").Start(""))
			if pl := payloadOf(t, r, "bubbles"); pl["fallback"] != "Reply with a number:" || len(pl["options"].([]any)) != 10 {
				t.Errorf("bubbles %v", pl)
			}
		}},
		{"button_template", "out", "`{body, fallback, header?, header_media?, footer?, options}` (≤ 3 options; see channels.md)", func(t *testing.T) {
			r := must(t)(menu(t, "c-bt", "whatsapp_business").Click("buttons"))
			if pl := payloadOf(t, r, "button_template"); pl["header"] != "Question" || pl["footer"] != "Footer" {
				t.Errorf("button_template %v", pl)
			}
		}},
		{"list_template", "out", "`{body, fallback, header?, footer?, button, options: [{id, label, description?}]}` (WhatsApp; `button` defaults to `Options`)", func(t *testing.T) {
			r := must(t)(menu(t, "c-lt", "whatsapp_business").Click("list"))
			if pl := payloadOf(t, r, "list_template"); pl["button"] != "Sizes" || pl["header"] != "Sizes" {
				t.Errorf("list_template %v", pl)
			}
			r = must(t)(conv("c-lt-menu", "whatsapp_business").Start(""))
			if pl := payloadOf(t, r, "list_template"); pl["button"] != "Options" {
				t.Errorf("the menu as a list has button %v", pl["button"])
			}
		}},
		{"carousel", "out", "`{body, fallback, options: [{id, label, image?, description?}]}` (clickable on web only)", func(t *testing.T) {
			r := must(t)(menu(t, "c-car", "web").Click("cards"))
			opts := payloadOf(t, r, "carousel")["options"].([]any)
			if opts[0].(map[string]any)["image"] != "https://cdn.example/red.png" {
				t.Errorf("carousel %v", opts)
			}
		}},
		{"button (deprecated)", "out", "never sent: URL buttons are `buttons` (FIELD-NOTES)", func(t *testing.T) {
			if r := must(t)(menu(t, "c-dep", "web").Click("all")); slices.Contains(r.Names(), "button") {
				t.Errorf("a deprecated button packet: %v", r.Names())
			}
		}},
		{"buttons", "out", "`{body, buttons: [{label, url}]}` on web; elsewhere the links as text", func(t *testing.T) {
			r := must(t)(menu(t, "c-btn", "web").Click("all"))
			if b := payloadOf(t, r, "buttons")["buttons"].([]any); b[0].(map[string]any)["url"] != "https://shop.example" {
				t.Errorf("buttons %v", b)
			}
		}},
		{"media", "out", "`{type: image|video|audio|file, link, caption?}`; on SMS the caption and link as text", func(t *testing.T) {
			r := must(t)(menu(t, "c-med", "web").Click("all"))
			if pl := payloadOf(t, r, "media"); pl["type"] != "image" || pl["link"] != "https://cdn.example/a.png" || pl["caption"] != "A picture" {
				t.Errorf("media %v", pl)
			}
		}},
		{"navigate", "out", "`{url}` on web; elsewhere the URL as text", func(t *testing.T) {
			if pl := payloadOf(t, must(t)(menu(t, "c-nav", "web").Click("all")), "navigate"); pl["url"] != "https://shop.example/checkout" {
				t.Errorf("navigate %v", pl)
			}
		}},
		{"contact_update", "out", "`{name?, email?, mobile_number?, external_customer_id?, custom_fields?, campaigns?}` as the flow gives it", func(t *testing.T) {
			pl := payloadOf(t, must(t)(menu(t, "c-cu", "web").Click("all")), "contact_update")
			want := map[string]any{"name": "Ada", "email": "ada@example.com", "mobile_number": "+49 1", "external_customer_id": "c-1",
				"custom_fields": map[string]any{"tier": "gold"}, "campaigns": true}
			if !reflect.DeepEqual(pl, want) {
				t.Errorf("contact_update %v", pl)
			}
		}},
		{"conversation_update", "out", "`{subject?, topics?, locale?, custom_fields?}`", func(t *testing.T) {
			pl := payloadOf(t, must(t)(menu(t, "c-cvu", "web").Click("all")), "conversation_update")
			if pl["subject"] != "Order" || pl["locale"] != "de_DE" || !reflect.DeepEqual(pl["topics"], []any{"billing"}) {
				t.Errorf("conversation_update %v", pl)
			}
		}},
		{"note_create", "out", "`{body, contact_identity_id?}`", func(t *testing.T) {
			if pl := payloadOf(t, must(t)(menu(t, "c-note", "web").Click("all")), "note_create"); pl["body"] != "A note" {
				t.Errorf("note_create %v", pl)
			}
		}},
		{"delay", "out", "`{seconds}`: the typing pause before the messages after it", func(t *testing.T) {
			r := must(t)(menu(t, "c-delay", "web").Click("all"))
			names := r.Names()
			if i := slices.Index(names, "delay"); i < 0 || names[i+1] != "message" || payloadOf(t, r, "delay")["seconds"] != 1.5 {
				t.Errorf("delay in %v", names)
			}
		}},
		{"addon_dispatch, email_dispatch", "out", "`{type}`; `{recipient_type, recipient_id?}`", func(t *testing.T) {
			r := must(t)(menu(t, "c-disp", "web").Click("all"))
			if payloadOf(t, r, "addon_dispatch")["type"] != "salesforce" || payloadOf(t, r, "email_dispatch")["recipient_type"] != "contact" {
				t.Errorf("dispatches %s", r.Body)
			}
		}},
		{"forward_any", "out", "`{on_failure?}`: `feedback` asks for `forward_failed`", func(t *testing.T) {
			if pl := payloadOf(t, must(t)(menu(t, "c-fa", "web").Click("human")), "forward_any"); pl["on_failure"] != "feedback" {
				t.Errorf("forward_any %v", pl)
			}
		}},
		{"forward_group, forward_skills", "out", "`{group_id, on_failure?}`; `{skills, on_failure?}`", func(t *testing.T) {
			if pl := payloadOf(t, must(t)(menu(t, "c-fg", "web").Click("group")), "forward_group"); pl["group_id"] != float64(7) {
				t.Errorf("forward_group %v", pl)
			}
			if pl := payloadOf(t, must(t)(menu(t, "c-fs", "web").Click("skills")), "forward_skills"); !reflect.DeepEqual(pl["skills"], []any{"de", "billing"}) {
				t.Errorf("forward_skills %v", pl)
			}
		}},
		{"abort, end", "out", "`{}`", func(t *testing.T) {
			if pl := payloadOf(t, must(t)(menu(t, "c-end", "web").Click("bye")), "end"); len(pl) != 0 {
				t.Errorf("end %v", pl)
			}
		}},
	}
	var b strings.Builder
	b.WriteString("| field | in/out | what flowbot does |\n|---|---|---|\n")
	for _, r := range rows {
		b.WriteString("| `" + r.field + "` | " + r.dir + " | " + strings.ReplaceAll(r.does, "|", "\\|") + " |\n")
		t.Run(r.dir+"/"+r.field, r.check)
	}
	path := filepath.Join("..", "..", "docs", "userlike.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	begin := "<!-- BEGIN GENERATED userlike fields (go test ./runtime/userlike -run FieldTable -update-fields) -->\n"
	end := "<!-- END GENERATED userlike fields -->"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated field table block", path)
	}
	if doc[i+len(begin):j] != b.String() {
		if *updateFields {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+b.String()+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s: the field table differs from the rows (go test ./runtime/userlike -run FieldTable -update-fields); want:\n%s", path, b.String())
	}
}

package channels

import (
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"":                    Custom,
		"web":                 Web,
		"whatsapp_business":   WhatsApp,
		"facebook":            Facebook,
		"telegram":            Telegram,
		"threema":             Threema,
		"sms":                 SMS,
		"custom":              Custom,
		" WhatsApp_Business ": WhatsApp,
		"SMS":                 SMS,
		"whatsapp":            Custom, // not a Userlike type
		"line":                Custom,
		"web2":                Custom,
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableCoversTypes(t *testing.T) {
	if len(Table) != len(Types) {
		t.Fatalf("Table has %d rows, Types %d", len(Table), len(Types))
	}
	for _, ch := range Types {
		l, ok := Table[ch]
		if !ok {
			t.Fatalf("no Table row for %s", ch)
		}
		if l.Channel != ch {
			t.Errorf("Table[%q].Channel = %q", ch, l.Channel)
		}
		if l.BodyMax != MaxBody {
			t.Errorf("%s: BodyMax %d", ch, l.BodyMax)
		}
		if *limitsOf(ch) != l {
			t.Errorf("%s: limitsOf differs from Table", ch)
		}
	}
}

func TestRenderUnknownChannelIsCustom(t *testing.T) {
	actions := []engine.Action{webshopMenu(), markdown("**hi**")}
	want := Render(actions, Custom)
	for _, ch := range []string{"", "line", "Custom"} {
		got := Render(actions, ch)
		if got.Numbered != want.Numbered || len(got.Packets) != len(want.Packets) {
			t.Fatalf("Render(%q) differs from custom", ch)
		}
		for i := range got.Packets {
			if got.Packets[i].Name != want.Packets[i].Name || got.Packets[i].Payload != want.Packets[i].Payload {
				t.Errorf("Render(%q) packet %d = %+v, want %+v", ch, i, got.Packets[i], want.Packets[i])
			}
		}
	}
}

func opts(labels ...string) []engine.Option {
	o := make([]engine.Option, len(labels))
	for i, l := range labels {
		o[i] = engine.Option{ID: strings.ToLower(strings.ReplaceAll(l, " ", "_")), Label: l}
	}
	return o
}

func TestPlan(t *testing.T) {
	l20 := strings.Repeat("é", 20)
	l21 := strings.Repeat("é", 21)
	withDesc := func(n int) []engine.Option {
		o := numberedOptions(2)
		o[0].Description = strings.Repeat("d", n)
		return o
	}
	tests := []struct {
		name    string
		c       engine.Choice
		channel string
		form    string
		reason  string // a substring of the reason; "" means the reason must be empty
	}{
		// web: as authored, always.
		{"web bubbles", engine.Choice{Options: numberedOptions(30)}, Web, "bubbles", ""},
		{"web button", engine.Choice{Form: "button_template", Options: numberedOptions(5)}, Web, "button_template", ""},
		{"web list", engine.Choice{Form: "list_template", Options: opts(l21)}, Web, "list_template", ""},
		{"web carousel", engine.Choice{Form: "carousel", Options: numberedOptions(2)}, Web, "carousel", ""},
		{"web unknown form", engine.Choice{Form: "cards", Options: numberedOptions(2)}, Web, "bubbles", ""},

		// WhatsApp.
		{"wa 3", engine.Choice{Options: numberedOptions(3)}, WhatsApp, "button_template", ""},
		{"wa 4", engine.Choice{Options: numberedOptions(4)}, WhatsApp, "list_template", ""},
		{"wa 10", engine.Choice{Options: numberedOptions(10)}, WhatsApp, "list_template", ""},
		{"wa 11", engine.Choice{Options: numberedOptions(11)}, WhatsApp, "text", "11 options > 10 for list_template"},
		{"wa label 20", engine.Choice{Options: opts(l20, "b")}, WhatsApp, "button_template", ""},
		{"wa label 21", engine.Choice{Options: opts(l21, "b")}, WhatsApp, "text",
			`label "` + l21 + `" is 21 characters > 20 for button_template and list_template`},
		{"wa button asked, 5", engine.Choice{Form: "button_template", Options: numberedOptions(5)}, WhatsApp, "list_template",
			"5 options > 3 for button_template; shown as list_template"},
		{"wa list asked, 2", engine.Choice{Form: "list_template", Options: numberedOptions(2)}, WhatsApp, "list_template", ""},
		{"wa list asked, 11", engine.Choice{Form: "list_template", Options: numberedOptions(11)}, WhatsApp, "text", "11 options > 10 for list_template"},
		{"wa list description 72", engine.Choice{Form: "list_template", Options: withDesc(72)}, WhatsApp, "list_template", ""},
		{"wa list description 73", engine.Choice{Form: "list_template", Options: withDesc(73)}, WhatsApp, "text", `description of "Option 1" is 73 characters > 72`},
		{"wa header 61", engine.Choice{Form: "button_template", Header: strings.Repeat("h", 61), Options: numberedOptions(2)}, WhatsApp, "text", "header is 61 characters > 60"},
		{"wa footer 61", engine.Choice{Form: "button_template", Footer: strings.Repeat("f", 61), Options: numberedOptions(2)}, WhatsApp, "text", "footer is 61 characters > 60"},
		{"wa list button 21", engine.Choice{Form: "list_template", Button: strings.Repeat("b", 21), Options: numberedOptions(2)}, WhatsApp, "text", "button text is 21 characters > 20"},
		{"wa button body 1025", engine.Choice{Body: strings.Repeat("x", 1025), Options: numberedOptions(2)}, WhatsApp, "list_template", ""},
		{"wa button asked body 1025", engine.Choice{Form: "button_template", Body: strings.Repeat("x", 1025), Options: numberedOptions(2)}, WhatsApp, "list_template", "body is 1025 characters > 1024 for button_template"},
		{"wa carousel", engine.Choice{Form: "carousel", Options: numberedOptions(2)}, WhatsApp, "text", "carousel is clickable only on web"},
		{"wa no options", engine.Choice{}, WhatsApp, "text", "no options"},
		{"wa empty label", engine.Choice{Options: []engine.Option{{ID: "x"}}}, WhatsApp, "text", `option "x" has an empty label`},

		// Facebook.
		{"fb 3", engine.Choice{Options: numberedOptions(3)}, Facebook, "button_template", ""},
		{"fb 4", engine.Choice{Options: numberedOptions(4)}, Facebook, "bubbles", ""},
		{"fb 13", engine.Choice{Options: numberedOptions(13)}, Facebook, "bubbles", ""},
		{"fb 14", engine.Choice{Options: numberedOptions(14)}, Facebook, "text", "14 options > 13 for bubbles"},
		{"fb label 21", engine.Choice{Options: opts("a", l21)}, Facebook, "text", "is 21 characters > 20 for button_template and bubbles"},
		{"fb list asked", engine.Choice{Form: "list_template", Options: numberedOptions(2)}, Facebook, "bubbles",
			"list_template is not available on facebook; shown as quick replies (bubbles)"},
		{"fb button asked, 4", engine.Choice{Form: "button_template", Options: numberedOptions(4)}, Facebook, "bubbles", "4 options > 3 for button_template"},
		{"fb button body 641", engine.Choice{Body: strings.Repeat("x", 641), Options: numberedOptions(2)}, Facebook, "bubbles", ""},
		{"fb carousel", engine.Choice{Form: "carousel", Options: numberedOptions(2)}, Facebook, "text", "carousel is clickable only on web"},

		// Text-only channels.
		{"telegram", engine.Choice{Options: numberedOptions(2)}, Telegram, "text", "telegram shows no clickable choices"},
		{"threema", engine.Choice{Form: "button_template", Options: numberedOptions(1)}, Threema, "text", "threema shows no clickable choices"},
		{"sms", engine.Choice{Form: "carousel", Options: numberedOptions(2)}, SMS, "text", "sms shows no clickable choices"},
		{"custom", engine.Choice{Options: numberedOptions(2)}, Custom, "text", "custom shows no clickable choices"},
		{"unknown channel", engine.Choice{Options: numberedOptions(2)}, "line", "text", "custom shows no clickable choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.c.Body == "" {
				tt.c.Body = "Which one?" // a flow's choice always has a text
			}
			form, reason := Plan(tt.c, tt.channel)
			if form != tt.form {
				t.Errorf("form = %q, want %q (reason %q)", form, tt.form, reason)
			}
			if tt.reason == "" && reason != "" {
				t.Errorf("reason = %q, want none", reason)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", reason, tt.reason)
			}
			// Render must use the form Plan announces.
			r := Render([]engine.Action{{Kind: engine.ActChoice, Choice: &tt.c}}, tt.channel)
			last := r.Packets[len(r.Packets)-1].Name
			if (form == FormText) != r.Numbered || (form != FormText && last != form) {
				t.Errorf("Render gave %s (numbered %v) for plan %s", last, r.Numbered, form)
			}
		})
	}
}

func TestNumberedIsLastChoice(t *testing.T) {
	text := choice("", numberedOptions(2))
	many := choice("", numberedOptions(14))
	if r := Render([]engine.Action{text, many}, WhatsApp); !r.Numbered {
		t.Error("a numbered choice after a clickable one: Numbered = false")
	}
	if r := Render([]engine.Action{many, text}, WhatsApp); r.Numbered {
		t.Error("a clickable choice after a numbered one: Numbered = true")
	}
	if r := Render([]engine.Action{many, markdown("bye")}, WhatsApp); !r.Numbered {
		t.Error("a text after a numbered choice reset Numbered")
	}
	if r := Render(nil, Web); r.Packets == nil || len(r.Packets) != 0 {
		t.Errorf("Render(nil) = %#v, want empty non-nil packets (JSON [])", r.Packets)
	}
}

func TestNumberedText(t *testing.T) {
	c := engine.Choice{Body: "Pick one", Options: opts("Red", "Blue")}
	r := Render([]engine.Action{{Kind: engine.ActChoice, Choice: &c}}, SMS)
	if got, want := r.Packets[0].Payload.(MessagePayload).Body, "Pick one\n1. Red\n2. Blue"; got != want {
		t.Errorf("no fallback: body %q, want %q", got, want)
	}
	c.Fallback = "Reply with a number:"
	r = Render([]engine.Action{{Kind: engine.ActChoice, Choice: &c}}, SMS)
	if got, want := r.Packets[0].Payload.(MessagePayload).Body, "Reply with a number:\n1. Red\n2. Blue"; got != want {
		t.Errorf("with fallback: body %q, want %q", got, want)
	}
	// A choice packet always carries a fallback, the body if none was given.
	c.Fallback = ""
	r = Render([]engine.Action{{Kind: engine.ActChoice, Choice: &c}}, Web)
	if got := r.Packets[0].Payload.(ChoicePayload).Fallback; got != "Pick one" {
		t.Errorf("web fallback = %q, want the body", got)
	}
}

func TestMarkdownOffIsNeverAltered(t *testing.T) {
	s := "**bold** _it_ ~~s~~ `c` [l](u) # h"
	for _, ch := range Types {
		r := Render([]engine.Action{text(s)}, ch)
		p := r.Packets[0].Payload.(MessagePayload)
		if p.Body != s || p.TextFormat != "" {
			t.Errorf("%s: %+v", ch, p)
		}
	}
}

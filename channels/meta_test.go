package channels

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

// metaLimits are Meta's published limits of the interactive messages
// flowbot sends (FIELD-NOTES), written out here rather than read from
// Table, so that a wrong row of Table fails the renderings that obey it.
var metaLimits = map[string]struct {
	options, label, body, header, footer, description, button, id int
	textHeader, footerShown                                       bool
	headerMedia                                                   string
}{
	WhatsApp + "/" + PacketButtonTemplate: {options: 3, label: 20, body: 1024, header: 60, footer: 60, id: 256,
		textHeader: true, footerShown: true, headerMedia: "image video document"},
	WhatsApp + "/" + PacketListTemplate: {options: 10, label: 24, body: 4096, header: 60, footer: 60, description: 72, button: 20, id: 200,
		textHeader: true, footerShown: true},
	Facebook + "/" + PacketButtonTemplate: {options: 3, label: 20, body: 640, id: 1000, headerMedia: "image"},
	Facebook + "/" + PacketBubbles:        {options: 13, label: 20, body: MaxBody, id: 1000},
}

// userlikeLabelMax is the label length up to which Userlike itself
// converts bubbles to WhatsApp or Facebook buttons (seed 003); flowbot
// decides with the same threshold, also for list rows.
const userlikeLabelMax = 20

// checkMetaLimits fails when a packet Meta would refuse (or Userlike would
// not convert) is sent on WhatsApp or Facebook.
func checkMetaLimits(t *testing.T, r Rendered, ch string) {
	t.Helper()
	runes := utf8.RuneCountInString
	for i, p := range r.Packets {
		pl, ok := p.Payload.(ChoicePayload)
		if !ok {
			continue
		}
		lim, ok := metaLimits[ch+"/"+p.Name]
		if !ok {
			if ch == WhatsApp || ch == Facebook {
				t.Errorf("packet %d: %s is not an interactive message of %s", i, p.Name, ch)
			}
			continue
		}
		bad := func(format string, args ...any) {
			t.Errorf("packet %d (%s on %s): "+format, append([]any{i, p.Name, ch}, args...)...)
		}
		if n := len(pl.Options); n == 0 || n > lim.options {
			bad("%d options, want 1–%d", n, lim.options)
		}
		if pl.Body == "" || runes(pl.Body) > lim.body {
			bad("body of %d characters, want 1–%d", runes(pl.Body), lim.body)
		}
		if pl.Header != "" && (!lim.textHeader || runes(pl.Header) > lim.header) {
			bad("text header %q not allowed (max %d, allowed %v)", pl.Header, lim.header, lim.textHeader)
		}
		if pl.HeaderMedia != nil && !strings.Contains(lim.headerMedia, pl.HeaderMedia.Type) {
			bad("a %s header is not allowed", pl.HeaderMedia.Type)
		}
		if pl.Footer != "" && (!lim.footerShown || runes(pl.Footer) > lim.footer) {
			bad("footer %q not allowed", pl.Footer)
		}
		if lim.button > 0 && (pl.Button == "" || runes(pl.Button) > lim.button) {
			bad("list button text %q, want 1–%d characters", pl.Button, lim.button)
		}
		seen := map[string]bool{}
		for _, o := range pl.Options {
			if o.Label == "" || runes(o.Label) > min(lim.label, userlikeLabelMax) {
				bad("label %q, want 1–%d characters", o.Label, min(lim.label, userlikeLabelMax))
			}
			if runes(o.ID) > lim.id {
				bad("id of %d characters > %d", runes(o.ID), lim.id)
			}
			if lim.description > 0 && runes(o.Description) > lim.description {
				bad("description of %q: %d characters > %d", o.Label, runes(o.Description), lim.description)
			}
			if p.Name == PacketButtonTemplate && seen[strings.ToLower(o.Label)] {
				bad("label %q twice", o.Label)
			}
			seen[strings.ToLower(o.Label)] = true
		}
	}
}

// TestTemplateDefaultsAreValid: a flow that gives no list button text,
// no body or a media header still gets templates Meta accepts.
func TestTemplateDefaultsAreValid(t *testing.T) {
	opts := numberedOptions(5)
	for _, tt := range []struct {
		name   string
		c      engine.Choice
		ch     string
		packet string
		check  func(ChoicePayload) bool
	}{
		{"list button defaults", engine.Choice{Body: "Pick:", Options: opts}, WhatsApp, PacketListTemplate,
			func(p ChoicePayload) bool { return p.Button == DefaultListButton }},
		{"web list button defaults", engine.Choice{Form: engine.FormListTemplate, Body: "Pick:", Options: opts}, Web, PacketListTemplate,
			func(p ChoicePayload) bool { return p.Button == DefaultListButton }},
		{"body from fallback", engine.Choice{Fallback: "Reply with a number:", Options: opts[:2]}, WhatsApp, PacketButtonTemplate,
			func(p ChoicePayload) bool { return p.Body == "Reply with a number:" }},
		{"image header on whatsapp", engine.Choice{Body: "Pick:", Header: "https://x.example/a.PNG?v=1", Footer: "f", Options: opts[:2]}, WhatsApp, PacketButtonTemplate,
			func(p ChoicePayload) bool {
				return p.Header == "" && p.HeaderMedia != nil && p.HeaderMedia.Type == "image" && p.Footer == "f"
			}},
		{"document header on whatsapp", engine.Choice{Body: "Pick:", Header: "https://x.example/terms.pdf", Options: opts[:2]}, WhatsApp, PacketButtonTemplate,
			func(p ChoicePayload) bool { return p.HeaderMedia != nil && p.HeaderMedia.Type == "document" }},
		{"video header dropped on facebook", engine.Choice{Body: "Pick:", Header: "https://x.example/a.mp4", Options: opts[:2]}, Facebook, PacketButtonTemplate,
			func(p ChoicePayload) bool { return p.HeaderMedia == nil && p.Header == "" }},
		{"media header dropped on lists", engine.Choice{Body: "Pick:", Header: "https://x.example/a.jpg", Options: opts}, WhatsApp, PacketListTemplate,
			func(p ChoicePayload) bool { return p.HeaderMedia == nil && p.Header == "" }},
		{"long url header is media, not too long", engine.Choice{Body: "Pick:", Header: "https://x.example/" + strings.Repeat("a", 80) + ".jpg", Options: opts[:2]}, WhatsApp, PacketButtonTemplate,
			func(p ChoicePayload) bool { return p.HeaderMedia != nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Render([]engine.Action{{Kind: engine.ActChoice, Choice: &tt.c}}, tt.ch)
			p := r.Packets[len(r.Packets)-1]
			pl, ok := p.Payload.(ChoicePayload)
			if p.Name != tt.packet || !ok || !tt.check(pl) {
				t.Errorf("got %s %+v", p.Name, p.Payload)
			}
			checkMetaLimits(t, r, tt.ch)
		})
	}
}

// TestPlanRefusesWhatMetaRefuses: choices that no template can carry are
// numbered text, with the reason.
func TestPlanRefusesWhatMetaRefuses(t *testing.T) {
	twice := []engine.Option{{ID: "a", Label: "Yes"}, {ID: "b", Label: "yes"}}
	longID := []engine.Option{{ID: strings.Repeat("i", 201), Label: "A"}, {ID: "b", Label: "B"}}
	for _, tt := range []struct {
		name   string
		c      engine.Choice
		ch     string
		form   string
		reason string
	}{
		{"duplicate button titles", engine.Choice{Form: engine.FormButtonTemplate, Body: "?", Options: twice}, WhatsApp, engine.FormListTemplate, `label "yes" appears twice for button_template`},
		{"id over 200", engine.Choice{Body: "?", Options: longID}, WhatsApp, FormText, "id of \"A\" is 201 characters > 200"},
		{"no body, no fallback", engine.Choice{Options: numberedOptions(2)}, Facebook, FormText, "no body and no fallback"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form, reason := Plan(tt.c, tt.ch)
			if form != tt.form || !strings.Contains(reason, tt.reason) {
				t.Errorf("Plan = %s (%q), want %s (%q)", form, reason, tt.form, tt.reason)
			}
		})
	}
}

// TestPacketsNameTheirAction: every packet says which action made it, also
// when one action makes several (a long text) and for numbered choices.
func TestPacketsNameTheirAction(t *testing.T) {
	actions := []engine.Action{text(longParagraphs(6000)), webshopMenu(), {Kind: engine.ActDelay, Seconds: 1},
		{Kind: engine.ActMedia, Media: &engine.Media{Type: "video", URL: "https://x.example/v.mp4"}}}
	for _, r := range []Rendered{Render(actions, SMS), RenderText(actions, WhatsApp)} {
		var got []int
		for _, p := range r.Packets {
			got = append(got, p.Action)
		}
		want := []int{0, 0, 1, 2, 3} // the long text is two messages
		if !slices.Equal(got, want) {
			t.Errorf("actions of the packets %v, want %v", got, want)
		}
	}
}

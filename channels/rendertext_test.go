package channels

import (
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

// TestRenderTextIsTextOnly: on every channel, RenderText turns choices, URL
// buttons and navigate into text messages, keeps the channel's markdown
// rules, and marks a choice as numbered so that "2" picks its second option.
func TestRenderTextIsTextOnly(t *testing.T) {
	menu := &engine.Choice{Form: engine.FormButtonTemplate, Body: "How can I help?", Options: []engine.Option{
		{ID: "delivery", Label: "Delivery status"}, {ID: "returns", Label: "Return an item"},
		{ID: "hours", Label: "Opening hours"}, {ID: "human", Label: "Talk to a human"}}}
	actions := []engine.Action{
		{Kind: engine.ActText, Text: "**Welcome**", Markdown: true},
		{Kind: engine.ActButtons, Text: "Our site", Buttons: []engine.URLButton{{Label: "Shop", URL: "https://shop.example"}}},
		{Kind: engine.ActNavigate, URL: "https://shop.example/help"},
		{Kind: engine.ActChoice, Choice: menu},
	}
	for _, ch := range Types {
		got := RenderText(actions, ch)
		if !got.Numbered {
			t.Errorf("%s: choice not numbered", ch)
		}
		var bodies []string
		for _, p := range got.Packets {
			m, ok := p.Payload.(MessagePayload)
			if p.Name != PacketMessage || !ok {
				t.Errorf("%s: packet %s is not a text message", ch, p.Name)
				continue
			}
			bodies = append(bodies, m.Body)
		}
		all := strings.Join(bodies, "\n")
		for _, want := range []string{"Shop: https://shop.example", "https://shop.example/help", "How can I help?", "1. Delivery status", "4. Talk to a human"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: %q missing from %q", ch, want, all)
			}
		}
		// The channel's markdown rules still apply: WhatsApp bold is *x*.
		if ch == WhatsApp && !strings.Contains(all, "*Welcome*") || ch == SMS && strings.Contains(all, "*") {
			t.Errorf("%s: markdown not converted for the channel: %q", ch, bodies[0])
		}
	}
}

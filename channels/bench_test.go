package channels

import (
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

// BenchmarkRenderWebshopMenu renders the webshop example's menu (a bubbles
// choice of four options) on every channel.
func BenchmarkRenderWebshopMenu(b *testing.B) {
	actions := []engine.Action{webshopMenu()}
	for _, ch := range Types {
		b.Run(ch, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Render(actions, ch)
			}
		})
	}
}

// BenchmarkConvertMarkdown converts the rich markdown sample for WhatsApp and SMS.
func BenchmarkConvertMarkdown(b *testing.B) {
	for _, ch := range []string{WhatsApp, SMS} {
		b.Run(ch, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ConvertMarkdown(richMarkdown, ch)
			}
		})
	}
}

// BenchmarkSplitBody splits a 20,000-character text into messages.
func BenchmarkSplitBody(b *testing.B) {
	s := longParagraphs(20000)
	b.ReportAllocs()
	for b.Loop() {
		SplitBody(s, MaxBody)
	}
}

// BenchmarkPlan plans a choice that falls back to numbered text on
// WhatsApp, with the reason.
func BenchmarkPlan(b *testing.B) {
	c := engine.Choice{Options: numberedOptions(11)}
	c.Options[0].Label = strings.Repeat("x", 21)
	b.ReportAllocs()
	for b.Loop() {
		Plan(c, WhatsApp)
	}
}

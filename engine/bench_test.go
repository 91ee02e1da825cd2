package engine

import "testing"

// BenchmarkStep measures one turn of the engine alone: decode the context,
// step the campaign flow's start click, encode the new context.
func BenchmarkStep(b *testing.B) {
	bot := loadFile(b, "../examples/campaign-signup.yaml")
	first := bot.Step(Session{}, start())
	ctx, err := EncodeContext(first.Session)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, _ := DecodeContext(ctx)
		r := bot.Step(s, click("start"))
		if _, err := EncodeContext(r.Session); err != nil {
			b.Fatal(err)
		}
	}
}

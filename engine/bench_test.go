package engine

import (
	"os"
	"strings"
	"testing"
)

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

const declarativeTurn = `
name: turn
start: ask
states:
  ask:
    ask: "Order id?"
    save: input
    set: {order_id: "{{ input }}"}
    next: done
  done: {say: "ok {{ order_id }}", next: ask}
`

const scriptedTurn = `
name: turn
start: ask
states:
  ask:
    ask: "Order id?"
    save: input
    script: |
      vars.order_id = vars.input.toUpperCase().replace(/[^A-Z0-9]/g, "")
    next: done
  done: {say: "ok {{ order_id }}", next: ask}
`

// BenchmarkTurnDeclarative and BenchmarkTurnScript measure the same turn,
// with the step written declaratively or as a script; their difference is
// the cost of a script step on pooled runtimes.
func BenchmarkTurnDeclarative(b *testing.B) { benchTurn(b, declarativeTurn) }

// BenchmarkTurnScript: see BenchmarkTurnDeclarative.
func BenchmarkTurnScript(b *testing.B) { benchTurn(b, scriptedTurn) }

func benchTurn(b *testing.B, src string) {
	bot := load(b, src)
	s := bot.Step(Session{}, start()).Session
	ev := msg("a-12345")
	b.ReportAllocs()
	for b.Loop() {
		r := bot.Step(s, ev)
		if len(r.Actions) != 2 {
			b.Fatalf("actions: %v", texts(r.Actions))
		}
	}
}

// BenchmarkStepMultilingual is BenchmarkStep on the multilingual example
// (the campaign signup asking for the language first): "two-languages" is
// the flow as it is, in German; "one-language" the same flow without
// `locales` (its `locale` variable an ordinary one), so that their ratio is
// the cost of a second language.
func BenchmarkStepMultilingual(b *testing.B) {
	src, err := os.ReadFile("../examples/multilingual.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"one-language", "two-languages"} {
		b.Run(mode, func(b *testing.B) {
			bot := loadFile(b, "../examples/multilingual.yaml")
			if mode == "one-language" {
				bot = load(b, strings.Replace(string(src), "locales: [en, de]\n", "", 1))
			}
			c := &convo{t: b, bot: bot}
			c.send(start())
			c.send(click("de"))
			b.ReportAllocs()
			for b.Loop() {
				s, _ := DecodeContext(c.ctx)
				r := bot.Step(s, click("start"))
				if _, err := EncodeContext(r.Session); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

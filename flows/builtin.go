package flows

import (
	_ "embed"
	"sync"
)

//go:embed builtin/persona.yaml
var personaSource []byte

var persona = sync.OnceValue(func() *Flow {
	f, lints := Parse("builtin/persona.yaml", personaSource, Options{})
	if f == nil {
		panic("flows: the built-in persona flow is invalid:\n" + lints.String())
	}
	return f
})

// Persona returns the built-in flow of persona bots: bots created with a
// freeform description and attributes but no flow of their own. Every
// message is answered by the language model in the bot's character. The
// flow is parsed once and shared; it must not be modified.
func Persona() *Flow { return persona() }

package platform

import (
	"strings"
	"sync"

	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/store"
)

var (
	personaOnce sync.Once
	persona     *engine.Deployment
)

// personaDeployment is the built-in flow of persona bots (flows.Persona):
// a bot created with freeform and attributes but no flow answers every
// message through an llm step, in character.
func personaDeployment() *engine.Deployment {
	personaOnce.Do(func() { persona = engine.NewDeployment(engine.New(flows.Persona())) })
	return persona
}

// personaText describes the bot to the model: its freeform text, then
// its attributes, one per line. The persona flow's system prompt reads it
// as {{bot.persona}}.
func personaText(b store.Bot) string {
	var sb strings.Builder
	sb.WriteString(strings.TrimSpace(b.Freeform))
	if len(b.Attributes) > 0 {
		if sb.Len() > 0 {
			sb.WriteString("\n")
		}
		sb.WriteString("About you:")
		for _, at := range b.Attributes {
			sb.WriteString("\n- " + at.Name + ": " + at.Value)
		}
	}
	return sb.String()
}

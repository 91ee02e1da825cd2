package platform_test

import (
	"testing"

	"github.com/flowbot/flowbot/runtime/platform"
)

// One flow answers in English, then in German once the app's user picks
// German (by number, then by typing the German label), over the Chat API:
// the locale lives in the stored context.
func TestMultilingualOverChatAPI(t *testing.T) {
	eachKind(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, platform.Options{})
		conv := e.conversation(e.bot("multilingual"), "anna", "")
		want(t, e.history(conv), "bot: Welcome! Which language do you prefer?\n1. English\n2. Deutsch")
		e.send(conv, "2")
		e.send(conv, "anmelden")
		want(t, e.history(conv)[1:],
			"user: 2",
			"bot: Bitte klicken Sie auf „anmelden“, um sich für unsere Kampagne anzumelden.\n1. anmelden",
			"user: anmelden",
			"bot: Sie sind jetzt für die Kampagne angemeldet!")
	})
}

// A conversation opened with a locale starts a multilingual flow in it.
func TestChatAPIConversationLocale(t *testing.T) {
	e := newEnv(t, "sqlite", platform.Options{})
	out := e.mustCall(201, "POST", "/api/conversations", map[string]any{"bot_id": e.bot("multilingual"), "user_id": "jan",
		"create_user_if_not_exists": true, "locale": "de_DE"})
	conv := out["conversation"].(map[string]any)["id"].(string)
	e.send(conv, "?")
	want(t, e.history(conv),
		"bot: Willkommen! Welche Sprache möchten Sie?\n1. English\n2. Deutsch",
		"user: ?",
		"bot: Entschuldigung, das habe ich nicht verstanden.",
		"bot: Willkommen! Welche Sprache möchten Sie?\n1. English\n2. Deutsch")
}

package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bilingualFlow = `
name: bilingual
locales: [en, de]
start: language
commands:
  - match: [language]
    goto: language
states:
  language:
    choice:
      text: "Which language?"
      options:
        - {id: en, label: English}
        - {id: de, label: Deutsch}
      save: locale
    do:
      - conversation_update: {locale: "{{ locale }}"}
    next: agree
  agree:
    choice:
      text: "Hello {{ contact.name | default: \"there\" }}! Agreed?"
      options:
        - {id: yes, label: "Yes"}
        - {id: no, label: "No"}
    next: email
  email:
    ask: "Your email?"
    expect: email
    save: email
    next: done
  done:
    say: "Thanks!"
    do: [end]
`

const bilingualDE = `
"Which language?": "Welche Sprache?"
English: English
Deutsch: Deutsch
"Hello {{ contact.name | default: \"there\" }}! Agreed?": "Hallo {{ contact.name | default: \"du\" }}! Einverstanden?"
"Yes": "Ja"
"No": "Nein"
"Your email?": "Ihre E-Mail?"
"Thanks!": "Danke!"
language: sprache
`

// loadBilingual writes the flow and its German translation file into a
// folder and loads it.
func loadBilingual(t testing.TB) *Bot {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"bilingual.yaml": bilingualFlow, "bilingual.de.yaml": bilingualDE} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return loadFile(t, filepath.Join(dir, "bilingual.yaml"))
}

func bodies(as []Action) []string {
	var out []string
	for _, a := range as {
		switch {
		case a.Kind == ActText:
			out = append(out, a.Text)
		case a.Kind == ActChoice:
			labels := make([]string, len(a.Choice.Options))
			for i, o := range a.Choice.Options {
				labels[i] = o.Label
			}
			out = append(out, a.Choice.Body+" ["+strings.Join(labels, "|")+"]")
		case a.Kind == ActPlatform:
			out = append(out, fmt.Sprint(a.Name, " ", a.Payload["locale"]))
		}
	}
	return out
}

func want(t *testing.T, got []Action, w ...string) {
	t.Helper()
	if g := bodies(got); strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("actions differ\n got: %q\nwant: %q", g, w)
	}
}

// The language is the `locale` variable, else the platform's locale (of
// this event or the last seen), else the flow's first locale.
func TestLocaleChosenInOrder(t *testing.T) {
	bot := loadBilingual(t)
	for _, tc := range []struct{ platform, want string }{
		{"", "Which language? [English|Deutsch]"},
		{"fr", "Which language? [English|Deutsch]"},
		{"de", "Welche Sprache? [English|Deutsch]"},
		{"de_DE", "Welche Sprache? [English|Deutsch]"},
		{"DE-at", "Welche Sprache? [English|Deutsch]"},
	} {
		ev := start()
		ev.Locale = tc.platform
		want(t, bot.Step(Session{}, ev).Actions, tc.want)
	}
	c := &convo{t: t, bot: bot}
	ev := start()
	ev.Locale = "de"
	c.send(ev)
	// A later event without a locale (a job's result, a timer) keeps it.
	want(t, c.send(msg("?")), "Entschuldigung, das habe ich nicht verstanden.", "Welche Sprache? [English|Deutsch]")
	// The contact's choice wins over the platform's.
	ev = click("en")
	ev.Locale = "de"
	want(t, c.send(ev), "conversation_update en", "Hello there! Agreed? [Yes|No]")
}

// Picking a language switches from the next message on, and the choice
// travels in the context.
func TestLocaleSwitchMidConversation(t *testing.T) {
	c := &convo{t: t, bot: loadBilingual(t)}
	want(t, c.send(start()), "Which language? [English|Deutsch]")
	want(t, c.send(click("de")), "conversation_update de", "Hallo du! Einverstanden? [Ja|Nein]")
	if !strings.Contains(string(c.ctx), `"locale":"de"`) {
		t.Errorf("the locale is not in the context: %s", c.ctx)
	}
	want(t, c.send(msg("ja")), "Ihre E-Mail?")
	// flowbot's own texts are shipped in German.
	want(t, c.send(msg("not an email")), "Entschuldigung, das habe ich nicht verstanden.", "Ihre E-Mail?")
	want(t, c.send(msg("language")), "Welche Sprache? [English|Deutsch]")
	want(t, c.send(msg("English")), "conversation_update en", "Hello there! Agreed? [Yes|No]")
}

// A label typed in another of the flow's languages is the same click.
func TestLabelTypedInAnyLocale(t *testing.T) {
	c := &convo{t: t, bot: loadBilingual(t)}
	c.send(start())
	want(t, c.send(click("en")), "conversation_update en", "Hello there! Agreed? [Yes|No]")
	want(t, c.send(msg(" JA ")), "Your email?")
	c = &convo{t: t, bot: loadBilingual(t)}
	c.send(start())
	c.send(click("de"))
	want(t, c.send(msg("yes")), "Ihre E-Mail?")
}

// Command keywords work in every language of the flow.
func TestCommandKeywordPerLocale(t *testing.T) {
	c := &convo{t: t, bot: loadBilingual(t)}
	c.send(start())
	c.send(click("en"))
	want(t, c.send(msg("Sprache")), "Which language? [English|Deutsch]")
}

// A flow without locales keeps `locale` an ordinary variable.
func TestLocaleVariableInSingleLanguageFlow(t *testing.T) {
	bot := load(t, `
name: plain
start: a
states:
  a: {ask: "Locale?", save: locale, next: b}
  b: {say: "got {{ locale }}", do: [end]}
`)
	c := &convo{t: t, bot: bot}
	c.send(start())
	ev := msg("xx")
	ev.Locale = "de"
	want(t, c.send(ev), "got xx", "end <nil>")
}

package flows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const menuFlow = `name: menu
locales: [en, de]
start: menu
states:
  menu:
    choice:
      text: "Pick"
      options:
        - {id: a, label: "A"}
    next: done
  done: {do: [end]}
`

// The context bound counts each choice's labels in its longest language.
func TestContextBoundCountsLongestLocale(t *testing.T) {
	long := strings.Repeat("x", 300)
	dir := writeFiles(t, map[string]string{
		"menu.yaml":    menuFlow,
		"menu.de.yaml": "Pick: Wähle\nA: " + long + "\n",
		"one.yaml":     strings.Replace(menuFlow, "locales: [en, de]\n", "", 1),
	})
	multi, err := Load(filepath.Join(dir, "menu.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := Load(filepath.Join(dir, "one.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ContextBound(multi)
	s, _ := ContextBound(single)
	if m < s+2*(len(long)-1) {
		t.Errorf("bound with a %d-byte German label is %d, single-language %d: the longer language is not counted", len(long), m, s)
	}
}

func TestMatchLocale(t *testing.T) {
	f := &Flow{Locales: []string{"en", "de", "pt-BR"}}
	for in, want := range map[string]string{"de": "de", "de_DE": "de", "DE-at": "de", "pt_br": "pt-BR", "pt": "pt-BR", "fr": "", "": ""} {
		if got := f.MatchLocale(in); got != want {
			t.Errorf("MatchLocale(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTranslationFilesAreNotFlows(t *testing.T) {
	for name, flow := range map[string]bool{"shop.yaml": true, "shop.de.yaml": false, "shop.pt-BR.yml": false, "shop_test.yaml": false, "shop.v2.yaml": true} {
		if got := IsFlowFile(name); got != flow {
			t.Errorf("IsFlowFile(%q) = %v, want %v", name, got, flow)
		}
	}
}

// A translation is attached to every copy of a text (a choice's body that
// is also its numbered fallback).
func TestTranslationReachesEveryCopy(t *testing.T) {
	dir := writeFiles(t, map[string]string{"menu.yaml": menuFlow, "menu.de.yaml": "Pick: Wähle\nA: Ah\n"})
	f, err := Load(filepath.Join(dir, "menu.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := f.States["menu"].Choice
	de := func(path string) (string, bool) { return "de", path == LocaleVar }
	for _, tpl := range []Template{c.Body, c.Fallback, c.Options[0].Label} {
		if got, _ := tpl.Render(de); got == tpl.Source {
			t.Errorf("%q has no German text", tpl.Source)
		}
	}
}

// flowbot's own texts are said in the flow's first language when flowbot
// ships it, and in English for an English contact.
func TestBuiltinTextsInFirstLocale(t *testing.T) {
	dir := writeFiles(t, map[string]string{"menu.yaml": strings.Replace(menuFlow, "[en, de]", "[de, en]", 1), "menu.en.yaml": "Pick: Pick\nA: A\n"})
	f, err := Load(filepath.Join(dir, "menu.yaml"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for loc, want := range map[string]string{"de": builtinTexts["de"][defaultInvalid], "en": defaultInvalid} {
		got, _ := f.Texts.Invalid.Render(func(path string) (string, bool) { return loc, path == LocaleVar })
		if got != want {
			t.Errorf("%s: %q, want %q", loc, got, want)
		}
	}
}

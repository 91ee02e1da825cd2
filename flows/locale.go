package flows

// Multilingual flows. A flow lists its languages in `locales`; the first is
// the language its texts are written in. Each other language has a
// translation file beside the flow, named after it: webshop.yaml →
// webshop.de.yaml, a flat YAML mapping from a text as the flow writes it
// (the key, as gettext's msgid) to its translation. Loading attaches the
// translations to the flow's templates, and a template renders in the
// locale its Lookup gives for LocaleVar. See docs/flows.md, "Languages".

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LocaleVar is the variable that holds the contact's language. A state may
// set it (`save: locale` on a language menu); when it is unset the engine
// answers with the platform's locale, else the flow's first locale.
const LocaleVar = "locale"

// translations holds one template's text in the flow's other locales.
type translations struct {
	locales []string
	texts   []Template
}

func (tr *translations) get(locale string) (Template, bool) {
	for i, l := range tr.locales {
		if l == locale {
			return tr.texts[i], true
		}
	}
	return Template{}, false
}

// In is the template's text in locale (a tag of the flow's `locales`), or
// the template itself where it has none.
func (t Template) In(locale string) Template {
	if t.tr != nil {
		if alt, ok := t.tr.get(locale); ok {
			return alt
		}
	}
	return t
}

// Translations lists the template's texts in the flow's other locales, in
// the order of `locales`.
func (t Template) Translations() []Template {
	if t.tr == nil {
		return nil
	}
	return t.tr.texts
}

// localeRe is a language tag as flowbot accepts it: en, de, pt-BR, zh-Hant.
var localeRe = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)

// MatchLocale maps a locale as a platform or a contact writes it (de,
// de_DE, DE-at) to one of the flow's `locales`: the same tag (any case, _
// for -), else the same language. It returns "" when none fits.
func (f *Flow) MatchLocale(s string) string {
	if len(f.Locales) == 0 || s == "" {
		return ""
	}
	s = strings.ReplaceAll(strings.TrimSpace(s), "_", "-")
	for _, l := range f.Locales {
		if strings.EqualFold(l, s) {
			return l
		}
	}
	lang, _, _ := strings.Cut(s, "-")
	for _, l := range f.Locales {
		if base, _, _ := strings.Cut(l, "-"); strings.EqualFold(base, lang) {
			return l
		}
	}
	return ""
}

// IsTranslationFile reports whether a file name is a flow's translation
// file (name.de.yaml), not a flow.
func IsTranslationFile(name string) bool {
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(filepath.Base(name), ext)
	i := strings.LastIndexByte(base, '.')
	return i > 0 && localeRe.MatchString(base[i+1:])
}

// TranslationFile is the path of flow file's translations into locale.
func TranslationFile(flowFile, locale string) string {
	ext := filepath.Ext(flowFile)
	return strings.TrimSuffix(flowFile, ext) + "." + locale + ext
}

// languageNames name the common locales in messages.
var languageNames = map[string]string{"en": "English", "de": "German", "fr": "French", "es": "Spanish",
	"it": "Italian", "nl": "Dutch", "pt": "Portuguese", "pl": "Polish", "tr": "Turkish"}

func languageName(locale string) string {
	base, _, _ := strings.Cut(locale, "-")
	if n, ok := languageNames[base]; ok {
		return fmt.Sprintf("%s (%q)", n, locale)
	}
	return fmt.Sprintf("%q", locale)
}

// builtinTexts are flowbot's own texts (the defaults of `texts`) in the
// languages it ships, keyed by their English text.
var builtinTexts = map[string]map[string]string{
	"de": {
		defaultInvalid: "Entschuldigung, das habe ich nicht verstanden.",
		defaultError:   "Entschuldigung, bei mir ist etwas schiefgegangen. Versuchen wir es noch einmal.",
		defaultBusy:    "Einen Moment bitte, ich bearbeite noch Ihre Anfrage…",
		defaultRestart: "Entschuldigung, ich habe den Faden verloren. Fangen wir noch einmal von vorn an.",
	},
}

// flowbot's own texts in English, the defaults of `texts`.
const (
	defaultInvalid = "Sorry, I didn't get that."
	defaultError   = "Sorry, something went wrong on my side. Let's try that again."
	defaultBusy    = "One moment please, I'm still working on your request…"
	defaultRestart = "Sorry, I lost track of our conversation. Let's start again."
)

// locales reads the flow's `locales` list.
func (p *parser) locales(f *Flow, n *yaml.Node) {
	f.localesPos = posOf(n)
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || !localeRe.MatchString(it.Value) {
			p.errorf(it, "%s is not a language tag; write locales as en, de, pt-BR (the first is the language of the flow's texts)", describe(it))
			continue
		}
		if slices.Contains(f.Locales, it.Value) {
			p.errorf(it, "locale %q is listed twice", it.Value)
			continue
		}
		f.Locales = append(f.Locales, it.Value)
		f.localePos = append(f.localePos, posOf(it))
	}
}

// textRef is one text a contact reads, with where the flow writes it.
type textRef struct {
	t   *Template
	pos Pos
	key string // set only to remember what was reported
}

// contactTexts lists every text of the flow a contact reads.
func (f *Flow) contactTexts() []textRef {
	var out []textRef
	add := func(pos Pos, ts ...*Template) {
		for _, t := range ts {
			if !t.IsZero() {
				out = append(out, textRef{t: t, pos: pos})
			}
		}
	}
	tp := f.textsPos
	add(tp, &f.Texts.Invalid, &f.Texts.Error, &f.Texts.Restart, &f.Texts.Busy)
	says := func(ms []Message) {
		for i := range ms {
			m := &ms[i]
			add(m.Pos, &m.Text)
			for j := range m.Buttons {
				add(m.Pos, &m.Buttons[j].Label)
			}
		}
	}
	for _, name := range f.Order {
		st := f.States[name]
		says(st.Say)
		if q := st.Ask; q != nil {
			add(q.Pos, &q.Prompt, &q.Invalid)
		}
		if c := st.Choice; c != nil {
			add(c.Pos, &c.Body, &c.Fallback, &c.Header, &c.Footer, &c.Button, &c.Invalid)
			for _, o := range c.Options {
				add(o.Pos, &o.Label, &o.Description)
			}
		}
		for i := range st.Silence {
			says(st.Silence[i].Say)
		}
	}
	return out
}

// translate reads the flow's translation files and attaches them to its
// texts: a text without a translation is an error at the text, naming the
// key and the locale; a key the flow no longer has is a warning at the key.
func (p *parser) translate(f *Flow) {
	if len(f.Locales) < 2 {
		return
	}
	// flowbot's own texts, when the flow keeps them, are written in its
	// first language where flowbot ships it; english keeps the original.
	english := map[*Template]string{}
	if tbl := builtinTexts[f.Locales[0]]; tbl != nil {
		for _, t := range []*Template{&f.Texts.Invalid, &f.Texts.Error, &f.Texts.Restart, &f.Texts.Busy} {
			if own, ok := tbl[t.Source]; ok {
				english[t] = t.Source
				*t, _, _ = compileTemplate(own, nil)
			}
		}
	}
	texts := f.contactTexts()
	for li, loc := range f.Locales[1:] {
		path := TranslationFile(p.file, loc)
		table, keyPos := p.translationFile(path, f.localePos[li+1], loc)
		if table == nil {
			continue
		}
		used := map[string]bool{}
		reported := map[textRef]bool{} // a body doubling as the fallback is one text
		for _, ref := range texts {
			key := ref.t.Source
			first := !reported[textRef{pos: ref.pos, key: key}]
			reported[textRef{pos: ref.pos, key: key}] = true
			src, ok := table[key]
			if !ok {
				src, ok = builtinTexts[loc][key]
			}
			if en, own := english[ref.t]; !ok && own && loc == "en" {
				src, ok = en, true
			}
			if !ok && !first {
				continue
			}
			if !ok {
				pos := ref.pos
				if pos.Line == 0 {
					pos = f.localePos[li+1] // one of flowbot's own texts
				}
				p.add(Error, pos, "no %s translation of %q; add the key to %s", languageName(loc), clipText(key, 60), filepath.Base(path))
				continue
			}
			used[key] = true
			alt, problem, _ := compileTemplate(src, p.env)
			if (problem != "" || newReads(*ref.t, alt) != "") && !first {
				continue
			}
			if problem != "" {
				p.lints = append(p.lints, Lint{File: path, Line: keyPos[key].Line, Column: keyPos[key].Column, Level: Error, What: problem})
				continue
			}
			if extra := newReads(*ref.t, alt); extra != "" {
				p.lints = append(p.lints, Lint{File: path, Line: keyPos[key].Line, Column: keyPos[key].Column, Level: Error,
					What: fmt.Sprintf("the %s text reads {{ %s }}, which the flow's text %q does not; a translation may use only the original's variables", languageName(loc), extra, clipText(key, 40))})
				continue
			}
			if ref.t.tr == nil {
				ref.t.tr = &translations{}
			}
			ref.t.tr.locales = append(ref.t.tr.locales, loc)
			ref.t.tr.texts = append(ref.t.tr.texts, alt)
		}
		for _, c := range f.Commands {
			for _, k := range slices.Clone(c.Match) {
				alt, ok := table[k]
				if !ok {
					p.add(Error, c.Pos, "no %s translation of the command keyword %q; add the key to %s", languageName(loc), k, filepath.Base(path))
					continue
				}
				used[k] = true
				if alt = strings.TrimSpace(alt); !slices.ContainsFunc(c.Match, func(m string) bool { return strings.EqualFold(m, alt) }) {
					c.Match = append(c.Match, alt)
				}
			}
		}
		for key, pos := range keyPos {
			if !used[key] {
				p.lints = append(p.lints, Lint{File: path, Line: pos.Line, Column: pos.Column, Level: Warning,
					What: fmt.Sprintf("%q is not a text of the flow (changed or removed?); update the key or delete it", clipText(key, 60))})
			}
		}
	}
}

// newReads names a variable alt reads that t does not, or "".
func newReads(t, alt Template) string {
	have := map[string]bool{}
	for _, v := range t.Vars() {
		have[v] = true
	}
	for _, v := range alt.Vars() {
		if !have[v] {
			return v
		}
	}
	return ""
}

// translationFile reads one translation file: a mapping of texts to texts.
// A missing or malformed file is reported at the flow's locale entry (at).
func (p *parser) translationFile(path string, at Pos, loc string) (map[string]string, map[string]Pos) {
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			p.add(Error, at, "locale %q needs its translation file %s beside the flow (a mapping of the flow's texts to their %s translations)", loc, filepath.Base(path), languageName(loc))
		} else {
			p.add(Error, at, "cannot read the translation file %s: %v", filepath.Base(path), errors.Unwrap(err))
		}
		return nil, nil
	}
	if len(src) > MaxFlowBytes {
		p.add(Error, at, "the translation file %s is %d bytes; at most %d are allowed", filepath.Base(path), len(src), MaxFlowBytes)
		return nil, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.lints = append(p.lints, yamlErrorLint(path, src, err))
		return nil, nil
	}
	table, keyPos := map[string]string{}, map[string]Pos{}
	if len(doc.Content) == 0 {
		return table, keyPos
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		p.lints = append(p.lints, Lint{File: path, Line: m.Line, Column: m.Column, Level: Error,
			What: "a translation file is a mapping: \"text as the flow writes it\": \"its translation\""})
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			p.lints = append(p.lints, Lint{File: path, Line: v.Line, Column: v.Column, Level: Error,
				What: fmt.Sprintf("the translation of %q must be a text", clipText(k.Value, 40))})
			continue
		}
		if _, dup := table[k.Value]; dup {
			p.lints = append(p.lints, Lint{File: path, Line: k.Line, Column: k.Column, Level: Error,
				What: fmt.Sprintf("%q is translated twice", clipText(k.Value, 40))})
			continue
		}
		table[k.Value], keyPos[k.Value] = v.Value, Pos{k.Line, k.Column}
	}
	return table, keyPos
}

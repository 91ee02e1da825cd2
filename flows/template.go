package flows

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Template is a string with {{ variable }} references, compiled once.
// ${env.NAME} and ${env.NAME:-default} references are resolved when the flow
// loads; an unset variable without a default makes Render fail, so the step
// that needs it takes its error path.
type Template struct {
	Source string
	parts  []part
	tr     *translations // the text in the flow's other locales; nil in a single-language flow
}

type partKind uint8

const (
	partText partKind = iota
	partVar
	partMissingEnv
)

type part struct {
	kind   partKind
	text   string // literal text, variable path, or missing env name
	def    string // a variable's default: said when it is unset or empty
	hasDef bool
	typ    string // number, boolean or json: the JSON type in an http `json` body
}

// Read is one variable a template reads; Defaulted says it has a default
// ({{ name | default: "there" }}), so an unset variable is no gap.
type Read struct {
	Path      string
	Defaulted bool
}

// Reads lists the variables the template reads, in order.
func (t Template) Reads() []Read {
	var out []Read
	for _, p := range t.parts {
		if p.kind == partVar {
			out = append(out, Read{Path: p.text, Defaulted: p.hasDef})
		}
	}
	return out
}

// Lookup returns the value of a variable path such as "name" or "contact.email".
type Lookup func(path string) (string, bool)

// MissingEnvError reports a ${env.NAME} that was unset when the flow loaded.
type MissingEnvError struct{ Name string }

func (e *MissingEnvError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (set it, or give a default: ${env.%s:-value})", e.Name, e.Name)
}

// IsZero reports whether the template is empty.
func (t Template) IsZero() bool { return t.Source == "" }

// IsConstant reports whether the template renders the same text every time.
func (t Template) IsConstant() bool {
	for _, p := range t.parts {
		if p.kind != partText {
			return false
		}
	}
	return true
}

// Vars lists the variable paths the template reads, in order.
func (t Template) Vars() []string {
	var out []string
	for _, p := range t.parts {
		if p.kind == partVar {
			out = append(out, p.text)
		}
	}
	return out
}

// MissingEnv lists the unset environment variables the template needs.
func (t Template) MissingEnv() []string {
	var out []string
	for _, p := range t.parts {
		if p.kind == partMissingEnv {
			out = append(out, p.text)
		}
	}
	return out
}

// Render fills in the variables. Unknown variables render as "".
func (t Template) Render(lookup Lookup) (string, error) {
	if t.tr != nil && lookup != nil {
		if loc, _ := lookup(LocaleVar); loc != "" {
			if alt, ok := t.tr.get(loc); ok {
				return alt.Render(lookup)
			}
		}
	}
	if len(t.parts) == 1 && t.parts[0].kind == partText {
		return t.parts[0].text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partText:
			b.WriteString(p.text)
		case partVar:
			v := ""
			if lookup != nil {
				v, _ = lookup(p.text)
			}
			if v == "" && p.hasDef {
				v = p.def
			}
			b.WriteString(v)
		case partMissingEnv:
			return "", &MissingEnvError{Name: p.text}
		}
	}
	return b.String(), nil
}

// TypedJSON renders a template that is exactly one variable with a type
// filter ({{ score | number }}) as that JSON value; ok is false for any
// other template. A value that is not of the type is an error.
func (t Template) TypedJSON(lookup Lookup) (v any, ok bool, err error) {
	if len(t.parts) != 1 || t.parts[0].typ == "" {
		return nil, false, nil
	}
	p := t.parts[0]
	text := ""
	if lookup != nil {
		text, _ = lookup(p.text)
	}
	text = strings.TrimSpace(text)
	switch p.typ {
	case "number":
		if n, err := strconv.ParseFloat(text, 64); err == nil && !math.IsInf(n, 0) && !math.IsNaN(n) {
			return n, true, nil
		}
	case "boolean":
		switch strings.ToLower(text) {
		case "true", "yes":
			return true, true, nil
		case "false", "no", "":
			return false, true, nil
		}
	case "json":
		if text == "" {
			return nil, true, nil
		}
		if err := json.Unmarshal([]byte(text), &v); err == nil {
			return v, true, nil
		}
	}
	return nil, true, fmt.Errorf("{{ %s | %s }}: %q is not a %s", p.text, p.typ, clipText(text, 40), p.typ)
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// MaxLiteralLen is the number of bytes of literal text in the template.
// In a multilingual flow it is the longest of the template's locales.
func (t Template) MaxLiteralLen() int {
	n := 0
	if t.tr != nil {
		for _, alt := range t.tr.texts {
			n = max(n, alt.MaxLiteralLen())
		}
	}
	m := 0
	for _, p := range t.parts {
		if p.kind == partText {
			m += len(p.text)
		}
	}
	return max(n, m)
}

// EnvFunc looks up an environment variable; os.LookupEnv fits.
type EnvFunc func(name string) (string, bool)

// compileTemplate parses src. It returns a problem description for a
// malformed reference (with the byte offset where it starts), or "".
func compileTemplate(src string, env EnvFunc) (Template, string, int) {
	t := Template{Source: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{kind: partText, text: lit.String()})
			lit.Reset()
		}
	}
	i := 0
	for i < len(src) {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			end := strings.Index(src[i+2:], "}}")
			if end < 0 {
				return t, `"{{" without a closing "}}"`, i
			}
			inner := src[i+2 : i+2+end]
			path, filter, filtered := strings.Cut(inner, "|")
			path = strings.TrimSpace(path)
			if !validPath(path) {
				return t, fmt.Sprintf("%q is not a variable name (use letters, digits, _ and dots, e.g. {{ name }} or {{ contact.email }})", path), i
			}
			pt := part{kind: partVar, text: path}
			if filtered {
				switch f := strings.TrimSpace(filter); f {
				case "number", "boolean", "json":
					pt.typ = f
				default:
					def, ok := defaultFilter(filter)
					if !ok {
						return t, fmt.Sprintf("%q is not a filter; write {{ %s | default: \"text\" }}, or in an http `json` body | number, | boolean or | json", f, path), i
					}
					pt.def, pt.hasDef = def, true
				}
			}
			flush()
			t.parts = append(t.parts, pt)
			i += 2 + end + 2
		case strings.HasPrefix(src[i:], "${env."):
			end := strings.IndexByte(src[i:], '}')
			if end < 0 {
				return t, `"${env." without a closing "}"`, i
			}
			ref := src[i+len("${env.") : i+end]
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validEnvName(name) {
				return t, fmt.Sprintf("%q is not an environment variable name (use letters, digits and _)", name), i
			}
			val, ok := "", false
			if env != nil {
				val, ok = env(name)
			}
			switch {
			case ok:
				lit.WriteString(val)
			case hasDef:
				lit.WriteString(def)
			default:
				flush()
				t.parts = append(t.parts, part{kind: partMissingEnv, text: name})
			}
			i += end + 1
		default:
			lit.WriteByte(src[i])
			i++
		}
	}
	flush()
	return t, "", 0
}

// defaultFilter reads ` default: "text"` (or 'text'), the one filter a
// template variable may have.
func defaultFilter(f string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(f), "default:")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || (rest[0] != '"' && rest[0] != '\'') || rest[len(rest)-1] != rest[0] {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

func validPath(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if !validIdent(seg) {
			return false
		}
	}
	return true
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		case r == '-' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validEnvName: an identifier without dashes, as shells allow.
func validEnvName(s string) bool { return validIdent(s) && !strings.Contains(s, "-") }

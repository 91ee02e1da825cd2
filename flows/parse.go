package flows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options change how flows load.
type Options struct {
	// Env resolves ${env.NAME}; nil means every variable is unset.
	Env EnvFunc
}

// MaxFlowBytes is the largest flow file accepted.
const MaxFlowBytes = 1 << 20

// Parse compiles the flow in src, reported as file. It returns the flow
// (nil if there are errors) and every problem found, errors and warnings.
func Parse(file string, src []byte, opts Options) (*Flow, Lints) {
	p := &parser{file: file, env: opts.Env, src: src}
	if len(src) > MaxFlowBytes {
		p.lints = append(p.lints, Lint{File: file, Line: 1, Column: 1, Level: Error,
			What: fmt.Sprintf("the file is %d bytes; a flow may be at most %d", len(src), MaxFlowBytes)})
		return nil, p.lints
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		p.lints = append(p.lints, yamlErrorLint(file, src, err))
		return nil, p.lints
	}
	if p.checkNoAnchors(&doc); len(p.lints) > 0 {
		return nil, p.lints
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.lints = append(p.lints, Lint{File: file, Line: 1, Column: 1, Level: Error,
			What: "the file is empty; a flow needs at least `name`, `start` and `states`"})
		return nil, p.lints
	}
	f := p.flow(doc.Content[0])
	if f != nil {
		sum := sha256.Sum256(src)
		f.Hash = hex.EncodeToString(sum[:])
		f.Source = append([]byte(nil), src...)
		p.translate(f)
		check(p, f)
	}
	p.lints.Sort()
	if p.lints.HasErrors() {
		return nil, p.lints
	}
	f.Lints = p.lints
	for _, st := range f.States {
		st.cacheKinds() // the flow is immutable from here on
	}
	return f, p.lints
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlErrorLint turns a YAML syntax error into a lint at the mistake
// itself when the file's lines show it (see locateYAMLError), else at the
// line the parser names.
func yamlErrorLint(file string, src []byte, err error) Lint {
	msg := err.Error()
	line := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if strings.Contains(msg, "anchor") {
		if pos, name, ok := findAlias(src); ok {
			return Lint{File: file, Line: pos.Line, Column: pos.Column, Level: Error,
				What: fmt.Sprintf("aliases (*%s) are not supported in flows; write the values out where they are used", name)}
		}
	}
	if m, ok := locateYAMLError(src, line); ok {
		return Lint{File: file, Line: m.pos.Line, Column: m.pos.Column, Level: Error, What: "not valid YAML: " + m.what}
	}
	return Lint{File: file, Line: max(line, 1), Column: 1, Level: Error, What: "not valid YAML: " + msg + " (check quotes, colons and indentation near here)"}
}

type parser struct {
	file  string
	env   EnvFunc
	src   []byte
	lints Lints
}

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func (p *parser) add(level Level, pos Pos, format string, args ...any) {
	p.lints = append(p.lints, Lint{File: p.file, Line: pos.Line, Column: pos.Column, Level: level, What: fmt.Sprintf(format, args...)})
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.add(Error, posOf(n), format, args...)
}

// fields checks a mapping against a field table: unknown keys, duplicate
// keys, missing required keys and the shape of each value. It returns the
// value nodes by key and the key nodes (for positions).
func (p *parser) fields(n *yaml.Node, table string, what string) (vals map[string]*yaml.Node, keys map[string]*yaml.Node, ok bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping of keys to values, not %s", what, describe(n))
		return nil, nil, false
	}
	spec := Language[table]
	known := make(map[string]Field, len(spec))
	names := make([]string, 0, len(spec))
	for _, f := range spec {
		known[f.Name] = f
		names = append(names, f.Name)
	}
	vals = map[string]*yaml.Node{}
	keys = map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		f, isKnown := known[name]
		if !isKnown {
			p.errorf(k, "unknown key %q in %s%s", name, what, hintOrList(name, names))
			continue
		}
		if _, dup := vals[name]; dup {
			p.errorf(k, "key %q appears twice in %s; keep one", name, what)
			continue
		}
		if !p.shapeOK(v, f, what) {
			continue
		}
		vals[name] = v
		keys[name] = k
	}
	for _, f := range spec {
		if f.Required {
			if _, has := vals[f.Name]; !has {
				if _, present := findKey(n, f.Name); !present {
					p.errorf(n, "%s needs `%s` (%s)", what, f.Name, f.Doc)
				}
			}
		}
	}
	return vals, keys, true
}

func findKey(n *yaml.Node, name string) (*yaml.Node, bool) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

// oneOf is a did-you-mean for a value, or the list of allowed values.
func oneOf(word string, values []string) string {
	if h := didYouMean(word, values); h != "" {
		return h
	}
	return " (one of: " + strings.Join(values, ", ") + ")"
}

func hintOrList(word string, names []string) string {
	if h := didYouMean(word, names); h != "" {
		return h
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return " (known keys: " + strings.Join(sorted, ", ") + ")"
}

// describe names the shape of a node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.Tag {
	case "!!null":
		return "nothing"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return "the boolean " + n.Value
	}
	return fmt.Sprintf("the text %q", n.Value)
}

func isScalar(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag != "!!null" }

func (p *parser) shapeOK(v *yaml.Node, f Field, what string) bool {
	bad := func(want string) bool {
		p.errorf(v, "`%s` in %s must be %s, not %s", f.Name, what, want, describe(v))
		return false
	}
	if v.Kind == yaml.AliasNode {
		return bad("written out (aliases are not supported)")
	}
	switch f.Kind {
	case KString, KState:
		if !isScalar(v) {
			return bad("a text")
		}
	case KDuration:
		if !isScalar(v) {
			return bad("a duration such as \"10m\"")
		}
	case KInt:
		if !isScalar(v) || v.Tag != "!!int" {
			return bad("a whole number")
		}
	case KNumber:
		if !isScalar(v) || (v.Tag != "!!int" && v.Tag != "!!float") {
			return bad("a number")
		}
	case KBool:
		if !isScalar(v) || v.Tag != "!!bool" {
			return bad("true or false")
		}
	case KStrings:
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				if !isScalar(e) {
					p.errorf(e, "each entry of `%s` in %s must be a text, not %s", f.Name, what, describe(e))
					return false
				}
			}
		} else if !isScalar(v) {
			return bad("a text or a list of texts")
		}
	case KMessages:
		if v.Kind != yaml.SequenceNode && !isScalar(v) && v.Kind != yaml.MappingNode {
			return bad("a message or a list of messages")
		}
	case KNext:
		if v.Kind != yaml.SequenceNode && !isScalar(v) {
			return bad("a state name or a list of branches")
		}
	case KMap, KObject, KStateMap, KVarMap, KStatesDefs:
		if v.Kind != yaml.MappingNode {
			return bad("a mapping")
		}
	case KList, KActions:
		if v.Kind != yaml.SequenceNode {
			return bad("a list")
		}
	}
	if f.Enum != nil && isScalar(v) && !strings.Contains(v.Value, "{{") && !contains(f.Enum, v.Value) {
		p.errorf(v, "unknown value %q for `%s` in %s%s", v.Value, f.Name, what, oneOf(v.Value, f.Enum))
		return false
	}
	if f.Min != nil && isScalar(v) && floatValue(v) < *f.Min {
		p.errorf(v, "`%s` in %s must be at least %g, not %s", f.Name, what, *f.Min, v.Value)
		return false
	}
	return true
}

// template compiles a string value, reporting malformed references at their position.
func (p *parser) template(n *yaml.Node) Template {
	t, problem, offset := compileTemplate(n.Value, p.env)
	if problem != "" {
		pos := posOf(n)
		if !strings.Contains(n.Value, "\n") && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			pos.Column += offset
		}
		p.add(Error, pos, "%s", problem)
	}
	return t
}

func (p *parser) target(n *yaml.Node) Target {
	return Target{State: n.Value, Pos: posOf(n)}
}

func (p *parser) flow(root *yaml.Node) *Flow {
	vals, _, ok := p.fields(root, "flow", "the flow")
	if !ok {
		return nil
	}
	f := &Flow{File: p.file, States: map[string]*State{}, On: map[string]Target{}}
	if v := vals["name"]; v != nil {
		f.Name = v.Value
		if !validName(f.Name) {
			p.errorf(v, "flow name %q may only use letters, digits, '-' and '_' (it becomes part of a URL)", f.Name)
		}
	}
	if v := vals["description"]; v != nil {
		f.Description = v.Value
	}
	if v := vals["version"]; v != nil {
		if v.Value != strconv.Itoa(LanguageVersion) {
			p.errorf(v, "flow language version %s is not supported; this flowbot reads version %d", v.Value, LanguageVersion)
		}
	}
	if v := vals["api_url"]; v != nil {
		f.APIURL = p.template(v)
		f.apiPos = posOf(v)
		if len(f.APIURL.Vars()) > 0 {
			p.errorf(v, "api_url may use ${env.NAME} but not {{ variables }}")
		}
	}
	if v := vals["api_token"]; v != nil {
		f.APIToken = p.template(v)
		f.apiTokenPos = posOf(v)
		if len(f.APIToken.Vars()) > 0 {
			p.errorf(v, "api_token may use ${env.NAME} but not {{ variables }}")
		}
	}
	if v := vals["start"]; v != nil {
		f.Start = v.Value
		f.StartPos = posOf(v)
	}
	if v := vals["locales"]; v != nil {
		p.locales(f, v)
	}
	if v := vals["texts"]; v != nil {
		f.textsPos = posOf(v)
		tv, _, ok := p.fields(v, "texts", "texts")
		if ok {
			if n := tv["invalid"]; n != nil {
				f.Texts.Invalid = p.template(n)
			}
			if n := tv["error"]; n != nil {
				f.Texts.Error = p.template(n)
			}
			if n := tv["restart"]; n != nil {
				f.Texts.Restart = p.template(n)
			}
			if n := tv["busy"]; n != nil {
				f.Texts.Busy = p.template(n)
			}
		}
	}
	if v := vals["scripts"]; v != nil {
		f.Scripts = p.scriptLimits(v)
	}
	if v := vals["defaults"]; v != nil {
		f.Defaults = p.assignments(v)
	}
	if v := vals["sizes"]; v != nil {
		f.Sizes, f.sizesPos = map[string]int{}, map[string]Pos{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, n := v.Content[i], v.Content[i+1]
			name := p.saveVar(k)
			chars, ok := intValue(n)
			if !ok || n.Tag != "!!int" || chars < 1 || chars > 5000 {
				p.errorf(n, "the size of %q is a number of characters from 1 to 5000, not %s", name, describe(n))
				continue
			}
			f.Sizes[name], f.sizesPos[name] = chars, posOf(n)
		}
	}
	if f.Texts.Invalid.IsZero() {
		f.Texts.Invalid, _, _ = compileTemplate(defaultInvalid, nil)
	}
	if f.Texts.Error.IsZero() {
		f.Texts.Error, _, _ = compileTemplate(defaultError, nil)
	}
	if f.Texts.Busy.IsZero() {
		f.Texts.Busy, _, _ = compileTemplate(defaultBusy, nil)
	}
	if f.Texts.Restart.IsZero() {
		f.Texts.Restart, _, _ = compileTemplate(defaultRestart, nil)
	}
	if v := vals["states"]; v != nil {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, sv := v.Content[i], v.Content[i+1]
			name := k.Value
			if !validName(name) {
				p.errorf(k, "state name %q may only use letters, digits, '-' and '_'", name)
				continue
			}
			if _, dup := f.States[name]; dup {
				p.errorf(k, "state %q is defined twice; rename one of them", name)
				continue
			}
			st := p.state(name, k, sv)
			if st != nil {
				f.States[name] = st
				f.Order = append(f.Order, name)
			}
		}
		if len(v.Content) == 0 {
			p.errorf(v, "`states` is empty; a flow needs at least the start state")
		}
	}
	if v := vals["commands"]; v != nil {
		for _, cn := range v.Content {
			if c := p.command(cn); c != nil {
				f.Commands = append(f.Commands, c)
			}
		}
	}
	if v := vals["on"]; v != nil {
		f.On = p.onMap(v, "the flow's `on`")
	}
	f.Migrate = map[string]Target{}
	if v := vals["migrate"]; v != nil {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, t := v.Content[i], v.Content[i+1]
			if !isScalar(t) {
				p.errorf(t, "the migration of %q must be a state name, not %s", k.Value, describe(t))
				continue
			}
			f.Migrate[k.Value] = p.target(t)
			f.migrateKeys = append(f.migrateKeys, Target{State: k.Value, Pos: posOf(k)})
		}
	}
	return f
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (p *parser) onMap(n *yaml.Node, what string) map[string]Target {
	out := map[string]Target{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(Events, k.Value) {
			p.errorf(k, "unknown event %q in %s%s", k.Value, what, hintOrList(k.Value, Events))
			continue
		}
		if !isScalar(v) {
			p.errorf(v, "the handler of %q must be a state name, not %s", k.Value, describe(v))
			continue
		}
		out[k.Value] = p.target(v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (p *parser) state(name string, key, n *yaml.Node) *State {
	what := fmt.Sprintf("state %q", name)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		p.errorf(key, "%s is empty; give it at least `say`, `ask`, `choice`, `do` or `next`", what)
		return nil
	}
	vals, keys, ok := p.fields(n, "state", what)
	if !ok {
		return nil
	}
	st := &State{Name: name, Pos: posOf(key), On: map[string]Target{}}
	if v := vals["say"]; v != nil {
		st.Say = p.messages(v)
	}
	questionKeys := []string{"expect", "pattern", "invalid", "retries", "on_give_up", "save", "max_length", "markdown", "min", "max", "integer"}
	if v := vals["ask"]; v != nil {
		st.Ask = p.question(v, vals)
	} else {
		for _, k := range questionKeys {
			if keys[k] != nil && !(k == "invalid" && vals["choice"] != nil) {
				if k == "save" && vals["llm"] != nil {
					p.errorf(keys[k], "`save` belongs to a question, but %s has no `ask`; to keep the model's reply, write `save` inside `llm`", what)
					continue
				}
				if vals["choice"] != nil && (k == "save" || k == "retries" || k == "on_give_up") {
					p.errorf(keys[k], "`%s` of a choice is written inside `choice`, next to its `options`", k)
					continue
				}
				p.errorf(keys[k], "`%s` belongs to a question, but %s has no `ask`", k, what)
			}
		}
	}
	if v := vals["choice"]; v != nil {
		if st.Ask != nil {
			p.errorf(v, "%s has both `ask` and `choice`; a state waits for one thing — split it into two states", what)
		}
		st.Choice = p.choice(v, what)
		if inv := vals["invalid"]; inv != nil && st.Choice != nil {
			if !st.Choice.Invalid.IsZero() {
				p.errorf(keys["invalid"], "%s has `invalid` twice, in the state and inside `choice`; keep one", what)
			}
			st.Choice.Invalid = p.template(inv)
		}
	}
	if v := vals["wait"]; v != nil && v.Value == "true" {
		if st.Ask != nil || st.Choice != nil {
			p.errorf(v, "%s already waits for an answer (`ask` or `choice`); remove `wait`", what)
		}
		if vals["next"] == nil {
			p.errorf(v, "`wait` needs `next`: where to go with the contact's next message")
		}
		st.Wait = true
	}
	if v := vals["script"]; v != nil {
		st.Script = p.inlineScript(v)
	}
	if v := vals["script_file"]; v != nil {
		if st.Script != nil {
			p.errorf(v, "%s has both `script` and `script_file`; keep one", what)
		}
		st.Script = p.scriptFile(v)
	}
	if v := vals["http"]; v != nil {
		if st.Ask != nil || st.Choice != nil || st.Wait {
			p.errorf(v, "%s already waits for the contact; make the request in a state of its own", what)
		}
		st.HTTP = p.httpStep(v)
	}
	if v := vals["llm"]; v != nil {
		if st.Ask != nil || st.Choice != nil || st.Wait || vals["http"] != nil {
			p.errorf(v, "%s already waits for the contact (`ask`, `choice`, `wait` or `http`); ask the language model in a state of its own", what)
		}
		st.LLM = p.llmStep(v, what)
	}
	if v := vals["on_status"]; v != nil {
		if vals["http"] == nil {
			p.errorf(v, "`on_status` belongs to a state with `http`")
		}
		st.OnStatus = map[int]Target{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, t := v.Content[i], v.Content[i+1]
			code, err := strconv.Atoi(k.Value)
			if err != nil || code < 100 || code > 599 {
				p.errorf(k, "%q is not an HTTP status code (100–599)", k.Value)
				continue
			}
			if !isScalar(t) {
				p.errorf(t, "the handler of status %d must be a state name, not %s", code, describe(t))
				continue
			}
			st.OnStatus[code] = p.target(t)
		}
	}
	if v := vals["set"]; v != nil {
		st.Set = p.assignments(v)
	}
	if v := vals["do"]; v != nil {
		for _, an := range v.Content {
			if a := p.action(an); a != nil {
				st.Do = append(st.Do, *a)
			}
		}
	}
	if v := vals["next"]; v != nil {
		st.Next = p.next(v, what, st.Script != nil)
	}
	if v := vals["on"]; v != nil {
		st.On = p.onMap(v, what+"'s `on`")
	}
	if c := st.Choice; c != nil {
		free := 0
		for _, o := range c.Options {
			if o.Goto.State == "" {
				free++
				if len(st.Next) == 0 {
					p.add(Error, o.Pos, "option %q of %s has no `goto`, and the state has no `next`; give the option a `goto`, or the state a `next` for every option without one", o.ID, what)
				}
			}
		}
		if free == 0 && len(st.Next) > 0 {
			p.errorf(keys["next"], "%s has a choice whose options all have a `goto`, so its `next` is never used — remove `next`, or the `goto` of the options that should follow it", what)
		}
	}
	if v := vals["timing"]; v != nil {
		st.Timing = p.timing(v, what)
	}
	if q := st.Ask; q != nil && q.Expect == "date" {
		q.Zone = time.UTC
		if st.Timing != nil && st.Timing.TimeZone != nil && *st.Timing.TimeZone != "" {
			if loc, err := time.LoadLocation(*st.Timing.TimeZone); err == nil {
				q.Zone = loc
			}
		}
	}
	if v := vals["on_silence"]; v != nil {
		st.Silence = p.silence(v, what)
		if !st.Waits() && !st.Terminal() {
			p.add(Warning, posOf(keys["on_silence"]), "on_silence of %s never fires: the state does not wait for the contact", what)
		}
	}
	return st
}

// assignments reads a mapping of variables to templates (`set`, `defaults`).
func (p *parser) assignments(v *yaml.Node) []Assignment {
	var out []Assignment
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if !validIdent(k.Value) {
			p.errorf(k, "%q is not a variable name (use letters, digits and _)", k.Value)
			continue
		}
		if !isScalar(val) {
			p.errorf(val, "the value of variable %q must be a text, not %s", k.Value, describe(val))
			continue
		}
		out = append(out, Assignment{Pos: posOf(k), Var: k.Value, Value: p.template(val)})
	}
	return out
}

// saveVar checks the name of a variable a step saves its result into.
func (p *parser) saveVar(v *yaml.Node) string {
	name := v.Value
	if !validIdent(name) || strings.Contains(name, "-") {
		p.errorf(v, "%q is not a variable name (use letters, digits and _)", name)
	}
	if reservedVar(name) {
		p.errorf(v, "%q is a built-in name (contact, event, channel, bot, env); choose another variable name", name)
	}
	return name
}

// intValue reads a whole number; ok is false if it does not fit an int.
func intValue(n *yaml.Node) (int, bool) {
	var i int
	if err := n.Decode(&i); err != nil {
		return 0, false
	}
	return i, true
}

// floatValue reads a number (YAML also writes .inf and .nan).
func floatValue(n *yaml.Node) float64 {
	var f float64
	if err := n.Decode(&f); err != nil {
		return math.NaN()
	}
	return f
}

// timing reads a state's `timing` and checks its bounds.
func (p *parser) timing(n *yaml.Node, stateWhat string) *Timing {
	vals, _, ok := p.fields(n, "timing", "the timing of "+stateWhat)
	if !ok {
		return nil
	}
	t := &Timing{}
	nums := map[string]**float64{"response_delay": &t.ResponseDelay, "typing_speed": &t.TypingSpeed, "typing_min": &t.TypingMin, "typing_max": &t.TypingMax}
	bools := map[string]**bool{"aggregate": &t.Aggregate, "interrupt": &t.Interrupt}
	strs := map[string]**string{"quiet_hours": &t.QuietHours, "time_zone": &t.TimeZone}
	for _, f := range TimingFields {
		v := vals[f.Name]
		if v == nil {
			continue
		}
		switch {
		case nums[f.Name] != nil:
			x := floatValue(v)
			*nums[f.Name] = &x
		case bools[f.Name] != nil:
			b := v.Value == "true"
			*bools[f.Name] = &b
		case strs[f.Name] != nil:
			s := v.Value
			*strs[f.Name] = &s
		case f.Name == "segment":
			i, ok := intValue(v)
			if !ok {
				p.errorf(v, "timing.segment: must be 0 (off) or between %d and %d characters", MinSegment, MaxSegment)
				return t
			}
			t.Segment = &i
		}
	}
	if field, err := t.Check(); err != nil {
		p.errorf(vals[field], "timing.%s: %s", field, err)
	}
	return t
}

// MaxSilenceAfter is the longest `after` of an `on_silence` rule.
const MaxSilenceAfter = 720 * time.Hour

// silence reads a state's `on_silence` rules.
func (p *parser) silence(n *yaml.Node, stateWhat string) []Silence {
	if len(n.Content) == 0 {
		p.errorf(n, "`on_silence` is empty; give at least one rule {after, say or goto}")
		return nil
	}
	var out []Silence
	var prev time.Duration
	var prevText string
	for i, rn := range n.Content {
		what := fmt.Sprintf("rule %d of %s's `on_silence`", i+1, stateWhat)
		vals, keys, ok := p.fields(rn, "silence", what)
		if !ok {
			continue
		}
		sl := Silence{Pos: posOf(rn)}
		if v := vals["after"]; v != nil {
			d, ok := p.duration(v)
			if ok && prevText != "" && d <= prev {
				p.errorf(v, "after %s is not longer than the previous rule's %s; list the rules in increasing order of `after`", v.Value, prevText)
			}
			if ok {
				prev, prevText = d, v.Value
			}
			sl.After = d
		}
		if v := vals["say"]; v != nil {
			sl.Say = p.messages(v)
		}
		if v := vals["goto"]; v != nil {
			sl.Goto = p.target(v)
			if i < len(n.Content)-1 {
				p.add(Warning, posOf(keys["goto"]), "this rule has `goto`, so the conversation leaves %s and the rules after it never fire", stateWhat)
			}
		}
		if vals["say"] == nil && vals["goto"] == nil {
			if _, has := findKey(rn, "say"); !has {
				if _, has := findKey(rn, "goto"); !has {
					p.errorf(rn, "%s needs `say`, `goto` or both: what happens after the silence", what)
				}
			}
		}
		out = append(out, sl)
	}
	return out
}

// scriptLimits reads a flow's `scripts` limits.
func (p *parser) scriptLimits(n *yaml.Node) ScriptLimits {
	lim := ScriptLimits{Pos: posOf(n)}
	vals, _, ok := p.fields(n, "scripts", "scripts")
	if !ok {
		return lim
	}
	if v := vals["timeout"]; v != nil {
		d, err := time.ParseDuration(strings.TrimSpace(v.Value))
		switch {
		case v.Tag == "!!int" || v.Tag == "!!float":
			p.errorf(v, "scripts.timeout needs a unit: write \"%sms\" for %s milliseconds, not %s", v.Value, v.Value, v.Value)
		case err != nil:
			p.errorf(v, "scripts.timeout must be a duration such as \"200ms\" or \"1s\", not %q", v.Value)
		case d < time.Millisecond || d > MaxScriptTimeout:
			p.errorf(v, "scripts.timeout must be between 1ms and %s, not %q", MaxScriptTimeout, v.Value)
		default:
			lim.Timeout = d
		}
	}
	if v := vals["memory"]; v != nil {
		b, err := ParseSize(v.Value)
		switch {
		case err != nil:
			p.errorf(v, "scripts.memory: %v", err)
		case b < MinScriptMemory || b > MaxScriptMemory:
			p.errorf(v, "scripts.memory must be between 1MiB and 1GiB, not %q", v.Value)
		default:
			lim.Memory = b
		}
	}
	return lim
}

// ParseSize reads a size with a binary unit: "512KiB", "32MiB", "1GiB".
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 || n > (1<<40)/u.mult {
				break
			}
			return n * u.mult, nil
		}
	}
	for _, u := range []string{"KB", "MB", "GB"} {
		if num, ok := strings.CutSuffix(s, u); ok {
			return 0, fmt.Errorf("sizes use binary units: write \"%s%ciB\", not %q", strings.TrimSpace(num), u[0], s)
		}
	}
	return 0, fmt.Errorf("write a size with a unit such as \"32MiB\" (KiB, MiB or GiB), not %q", s)
}

// duration reads the `after` of a silence rule: a Go duration with a unit.
func (p *parser) duration(v *yaml.Node) (time.Duration, bool) {
	if v.Tag == "!!int" || v.Tag == "!!float" {
		p.errorf(v, "after needs a unit: write \"%sm\" for %s minutes (or \"%ss\", \"%sh\"), not %s", v.Value, v.Value, v.Value, v.Value, v.Value)
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(v.Value))
	if err != nil {
		p.errorf(v, "after must be a duration such as \"90s\", \"10m\" or \"1h30m\", not %q", v.Value)
		return 0, false
	}
	if d <= 0 || d > MaxSilenceAfter {
		p.errorf(v, "after must be more than 0 and at most 720h (30 days), not %q", v.Value)
		return 0, false
	}
	return d, true
}

// MaxLLMTokens is the largest max_tokens of an llm step.
const MaxLLMTokens = 32000

// llmStep reads a state's `llm`.
func (p *parser) llmStep(n *yaml.Node, stateWhat string) *LLMStep {
	vals, _, ok := p.fields(n, "llm", "the llm step of "+stateWhat)
	if !ok {
		return nil
	}
	l := &LLMStep{Pos: posOf(n), History: DefaultLLMHistory, Timeout: DefaultLLMTimeout}
	if v := vals["system"]; v != nil {
		l.System = p.template(v)
		l.systemPos = posOf(v)
	}
	if v := vals["prompt"]; v != nil {
		l.Prompt = p.template(v)
		l.promptPos = posOf(v)
	}
	if v := vals["save"]; v != nil {
		l.Save = p.saveVar(v)
		if l.Save == HistoryVar {
			p.errorf(v, "%q holds the language model's transcript; choose another variable name", l.Save)
		}
	}
	if v := vals["async"]; v != nil {
		l.Async = v.Value == "true"
	}
	if v := vals["quiet"]; v != nil {
		l.Quiet = v.Value == "true"
		if l.Quiet && vals["save"] == nil {
			p.add(Warning, posOf(v), "the llm step of %s is quiet and has no `save`: its reply is neither said nor kept (add `save`, or remove `quiet`)", stateWhat)
		}
	}
	if v := vals["history"]; v != nil {
		h, ok := intValue(v)
		if !ok || h < 0 || h > MaxLLMHistory {
			p.errorf(v, "history must be between 0 and %d messages, not %s", MaxLLMHistory, v.Value)
		}
		l.History = h
	}
	if v := vals["max_tokens"]; v != nil {
		m, ok := intValue(v)
		if !ok || m < 1 || m > MaxLLMTokens {
			p.errorf(v, "max_tokens must be between 1 and %d, not %s", MaxLLMTokens, v.Value)
		}
		l.MaxTokens = m
	}
	if v := vals["temperature"]; v != nil {
		t := floatValue(v)
		if !(t >= 0 && t <= 2) {
			p.errorf(v, "temperature must be between 0 and 2, not %s", v.Value)
		}
		l.Temperature = &t
	}
	if v := vals["timeout"]; v != nil {
		l.Timeout = floatValue(v)
		if !(l.Timeout >= 1 && l.Timeout <= MaxLLMTimeout) {
			p.errorf(v, "timeout must be between 1 and %d seconds, not %s", MaxLLMTimeout, v.Value)
		}
	}
	return l
}

func (p *parser) messages(n *yaml.Node) []Message {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []Message
	for _, item := range items {
		if m, ok := p.message(item); ok {
			out = append(out, m)
		}
	}
	return out
}

func (p *parser) message(n *yaml.Node) (Message, bool) {
	if isScalar(n) {
		return Message{Kind: MsgText, Pos: posOf(n), Text: p.template(n)}, true
	}
	vals, _, ok := p.fields(n, "message", "a message")
	if !ok {
		return Message{}, false
	}
	m := Message{Pos: posOf(n)}
	var kinds []string
	for _, k := range []MessageKind{MsgMarkdown, MsgImage, MsgVideo, MsgAudio, MsgFile, MsgButtons, MsgNavigate, MsgDelay} {
		if vals[string(k)] != nil {
			kinds = append(kinds, string(k))
			m.Kind = k
		}
	}
	if len(kinds) > 1 {
		p.errorf(n, "a message is one thing, but this one has %s; make them separate messages", strings.Join(kinds, " and "))
		return m, false
	}
	if len(kinds) == 0 {
		if len(vals) < len(n.Content)/2 {
			return m, false // a key was already reported
		}
		if vals["text"] == nil {
			p.errorf(n, "a message needs one of text, markdown, image, video, audio, file, buttons, navigate or delay")
			return m, false
		}
		m.Kind = MsgText
	}
	if v := vals["text"]; v != nil {
		if m.Kind != MsgText && m.Kind != MsgButtons {
			p.errorf(v, "`text` goes with buttons, or stands alone; for media use `caption`")
		}
		m.Text = p.template(v)
	}
	if v := vals["caption"]; v != nil {
		switch m.Kind {
		case MsgImage, MsgVideo, MsgAudio, MsgFile:
			m.Text = p.template(v)
		default:
			p.errorf(v, "`caption` belongs to an image, video, audio or file message")
		}
	}
	switch m.Kind {
	case MsgMarkdown:
		m.Text = p.template(vals["markdown"])
	case MsgImage, MsgVideo, MsgAudio, MsgFile, MsgNavigate:
		m.URL = p.template(vals[string(m.Kind)])
	case MsgDelay:
		sec, _ := strconv.ParseFloat(vals["delay"].Value, 64)
		if sec <= 0 || sec > 60 || math.IsNaN(sec) {
			p.errorf(vals["delay"], "a delay must be between 0 and 60 seconds, not %s", vals["delay"].Value)
		}
		m.Seconds = sec
	case MsgButtons:
		for _, bn := range vals["buttons"].Content {
			bv, _, ok := p.fields(bn, "button", "a button")
			if !ok || bv["label"] == nil || bv["url"] == nil {
				continue
			}
			m.Buttons = append(m.Buttons, URLButton{Label: p.template(bv["label"]), URL: p.template(bv["url"])})
		}
		if len(vals["buttons"].Content) == 0 {
			p.errorf(vals["buttons"], "`buttons` is empty; give at least one {label, url}")
		}
	}
	return m, true
}

func (p *parser) question(askNode *yaml.Node, vals map[string]*yaml.Node) *Question {
	q := &Question{Pos: posOf(askNode), Prompt: p.template(askNode), Expect: "text"}
	if v := vals["markdown"]; v != nil {
		q.Markdown = v.Value == "true"
	}
	if v := vals["expect"]; v != nil {
		q.Expect = v.Value
	}
	if v := vals["pattern"]; v != nil {
		re, err := regexp.Compile(v.Value)
		if err != nil {
			p.errorf(v, "the pattern is not a valid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		q.Pattern = re
		if q.Expect != "regex" && vals["expect"] != nil {
			p.errorf(v, "`pattern` needs `expect: regex` (this question expects %s)", q.Expect)
		}
		if vals["expect"] == nil {
			q.Expect = "regex"
		}
	} else if q.Expect == "regex" {
		p.errorf(vals["expect"], "`expect: regex` needs a `pattern`")
	}
	if v := vals["invalid"]; v != nil {
		q.Invalid = p.template(v)
	}
	q.Retries, q.OnGiveUp = p.retries(vals)
	if v := vals["save"]; v != nil {
		q.Save = p.saveVar(v)
	}
	p.bounds(q, vals)
	q.MaxLength = DefaultMaxLength[q.Expect]
	if v := vals["max_length"]; v != nil {
		q.MaxLength, _ = strconv.Atoi(v.Value)
		if q.MaxLength < 1 || q.MaxLength > 5000 {
			p.errorf(v, "max_length must be between 1 and 5000 characters, not %s", v.Value)
		}
	}
	return q
}

// bounds reads a question's `min`, `max` and `integer`: numbers for
// expect: number, days from today for expect: date.
func (p *parser) bounds(q *Question, vals map[string]*yaml.Node) {
	if v := vals["integer"]; v != nil {
		q.Integer = v.Value == "true"
		if q.Expect != "number" {
			p.errorf(v, "`integer` needs `expect: number` (this question expects %s)", q.Expect)
		}
	}
	for _, key := range []string{"min", "max"} {
		v := vals[key]
		if v == nil {
			continue
		}
		switch q.Expect {
		case "number":
			n, err := strconv.ParseFloat(v.Value, 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				p.errorf(v, "`%s` of a number question must be a number, not %s", key, describe(v))
				continue
			}
			if key == "min" {
				q.Min = &n
			} else {
				q.Max = &n
			}
		case "date":
			days, ok := relativeDay(v.Value)
			if !ok {
				p.errorf(v, "`%s` of a date question is today, today+N or today-N (days), not %s", key, describe(v))
				continue
			}
			if key == "min" {
				q.DateMin = &days
			} else {
				q.DateMax = &days
			}
		default:
			p.errorf(v, "`%s` needs `expect: number` or `expect: date` (this question expects %s)", key, q.Expect)
		}
	}
	if q.Min != nil && q.Max != nil && *q.Min > *q.Max || q.DateMin != nil && q.DateMax != nil && *q.DateMin > *q.DateMax {
		p.errorf(vals["max"], "`max` is below `min`; no answer could pass")
	}
}

// relativeDay reads today, today+N or today-N as a number of days.
func relativeDay(s string) (int, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	rest, ok := strings.CutPrefix(s, "today")
	if !ok {
		return 0, false
	}
	if rest == "" {
		return 0, true
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < -36600 || n > 36600 || rest[0] != '+' && rest[0] != '-' {
		return 0, false
	}
	return n, true
}

// DefaultRetries is the number of invalid answers allowed when a question
// or choice names `on_give_up` without `retries`.
const DefaultRetries = 3

// retries reads `retries` and `on_give_up`, which mean the same on a
// question and on a choice: how many invalid answers are allowed, and
// where the conversation goes after the last.
func (p *parser) retries(vals map[string]*yaml.Node) (int, Target) {
	n, giveUp := 0, Target{}
	if v := vals["retries"]; v != nil {
		n, _ = strconv.Atoi(v.Value)
		if n < 1 || n > 100 {
			p.errorf(v, "retries must be between 1 and 100, not %s", v.Value)
		}
		if vals["on_give_up"] == nil {
			p.errorf(v, "`retries` needs `on_give_up`: the state to go to after %s invalid answers", v.Value)
		}
	}
	if v := vals["on_give_up"]; v != nil {
		giveUp = p.target(v)
		if vals["retries"] == nil {
			n = DefaultRetries
		}
	}
	return n, giveUp
}

// reservedVar reports whether name is a built-in variable root.
func reservedVar(name string) bool {
	switch name {
	case "contact", "conversation", "event", "channel", "bot", "env":
		return true
	}
	return false
}

func (p *parser) choice(n *yaml.Node, stateWhat string) *Choice {
	vals, _, ok := p.fields(n, "choice", "the choice of "+stateWhat)
	if !ok {
		return nil
	}
	c := &Choice{Pos: posOf(n), Form: "bubbles"}
	if v := vals["text"]; v != nil {
		c.Body = p.template(v)
	}
	if v := vals["fallback"]; v != nil {
		c.Fallback = p.template(v)
	} else {
		c.Fallback = c.Body
	}
	if v := vals["form"]; v != nil {
		c.Form = v.Value
	}
	for key, dst := range map[string]*Template{"header": &c.Header, "footer": &c.Footer, "button": &c.Button, "invalid": &c.Invalid} {
		if v := vals[key]; v != nil {
			*dst = p.template(v)
		}
	}
	if v := vals["otherwise"]; v != nil {
		c.Otherwise = p.target(v)
	}
	if v := vals["save"]; v != nil {
		c.Save = p.saveVar(v)
	}
	c.Retries, c.OnGiveUp = p.retries(vals)
	if vals["retries"] != nil && c.Otherwise.State != "" {
		p.errorf(vals["retries"], "a choice with `otherwise` sends every other answer there, so `retries` never counts one; keep one of them")
	}
	if v := vals["options"]; v != nil {
		ids := map[string]Pos{}
		labels := map[string]Pos{}
		for _, on := range v.Content {
			ov, _, ok := p.fields(on, "option", "an option")
			if !ok || ov["id"] == nil || ov["label"] == nil {
				continue
			}
			o := &Option{Pos: posOf(on), ID: ov["id"].Value, Label: p.template(ov["label"])}
			if g := ov["goto"]; g != nil {
				o.Goto = p.target(g)
			}
			if first, dup := ids[o.ID]; dup {
				p.errorf(ov["id"], "duplicate option id %q (first used at line %d); option ids must be unique within a choice", o.ID, first.Line)
			} else {
				ids[o.ID] = posOf(ov["id"])
			}
			if o.ID == "" || len(o.ID) > 200 {
				p.errorf(ov["id"], "an option id must be 1 to 200 characters")
			}
			folded := strings.ToLower(strings.TrimSpace(o.Label.Source))
			if first, dup := labels[folded]; dup {
				p.errorf(ov["label"], "duplicate option label %q (first used at line %d); a typed label must pick one option", o.Label.Source, first.Line)
			} else {
				labels[folded] = posOf(ov["label"])
			}
			if isNumber(folded) {
				p.add(Warning, posOf(ov["label"]), "option label %q is a number; on numbered-text channels it can be confused with the option numbers", o.Label.Source)
			}
			if d := ov["description"]; d != nil {
				o.Description = p.template(d)
			}
			if im := ov["image"]; im != nil {
				o.Image = p.template(im)
			}
			c.Options = append(c.Options, o)
		}
		if len(v.Content) == 0 {
			p.errorf(v, "a choice needs at least one option")
		}
	}
	return c
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func (p *parser) action(n *yaml.Node) *PlatformAction {
	names := make([]string, 0, len(PlatformActions))
	for k := range PlatformActions {
		names = append(names, k)
	}
	sort.Strings(names)
	var name string
	var payload *yaml.Node
	switch {
	case isScalar(n):
		name = n.Value
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		name, payload = n.Content[0].Value, n.Content[1]
	default:
		p.errorf(n, "an action is a name (forward_any) or a name with its payload ({contact_update: {name: ...}}), not %s", describe(n))
		return nil
	}
	spec, known := PlatformActions[name]
	if !known {
		p.errorf(n, "unknown action %q%s", name, hintOrList(name, names))
		return nil
	}
	a := &PlatformAction{Pos: posOf(n), Name: name, Payload: map[string]Value{}}
	if updates[name] && (payload == nil || len(payload.Content) == 0) {
		p.errorf(n, "%s needs at least one of %s; an empty update changes nothing", name, strings.Join(fieldNamesOf(spec), ", "))
		return nil
	}
	if payload == nil || (payload.Kind == yaml.ScalarNode && payload.Tag == "!!null") {
		for _, f := range spec {
			if f.Required {
				p.errorf(n, "action %s needs `%s`", name, f.Name)
			}
		}
		return a
	}
	if payload.Kind != yaml.MappingNode {
		p.errorf(payload, "the payload of %s must be a mapping, not %s", name, describe(payload))
		return nil
	}
	fieldNames := make([]string, 0, len(spec))
	known2 := map[string]Field{}
	for _, f := range spec {
		fieldNames = append(fieldNames, f.Name)
		known2[f.Name] = f
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(payload.Content); i += 2 {
		k, v := payload.Content[i], payload.Content[i+1]
		f, ok := known2[k.Value]
		if !ok {
			if len(fieldNames) == 0 {
				p.errorf(k, "action %s takes no payload", name)
			} else {
				p.errorf(k, "unknown key %q for %s%s", k.Value, name, hintOrList(k.Value, fieldNames))
			}
			continue
		}
		seen[k.Value] = true // present, even if malformed: reported once
		if !p.shapeOK(v, f, name) {
			continue
		}
		a.Payload[k.Value] = p.value(v)
	}
	for _, f := range spec {
		if f.Required && !seen[f.Name] {
			p.errorf(payload, "action %s needs `%s`", name, f.Name)
		}
	}
	return a
}

// updates are the actions that need at least one field.
var updates = map[string]bool{"contact_update": true, "conversation_update": true}

func fieldNamesOf(fields []Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

func (p *parser) value(n *yaml.Node) Value {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]Value{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = p.value(n.Content[i+1])
		}
		return Value{Map: m}
	case yaml.SequenceNode:
		l := []Value{}
		for _, e := range n.Content {
			l = append(l, p.value(e))
		}
		return Value{List: l}
	}
	switch n.Tag {
	case "!!int", "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err == nil {
			return Value{Num: &f}
		}
	case "!!bool":
		b := n.Value == "true"
		return Value{Bool: &b}
	case "!!null":
		return Value{}
	}
	t := p.template(n)
	return Value{Str: &t}
}

// next reads a state's `next`; scripted says the state has a script,
// whose `return` may pick any branch, so that branches after one without
// `if` are not dead.
func (p *parser) next(n *yaml.Node, what string, scripted bool) []Branch {
	if isScalar(n) {
		return []Branch{{Pos: posOf(n), Goto: p.target(n)}}
	}
	var out []Branch
	for i, bn := range n.Content {
		if isScalar(bn) {
			out = append(out, Branch{Pos: posOf(bn), Goto: p.target(bn)})
			continue
		}
		bv, _, ok := p.fields(bn, "branch", "a branch of "+what+"'s `next`")
		if !ok || bv["goto"] == nil {
			continue
		}
		b := Branch{Pos: posOf(bn), Goto: p.target(bv["goto"])}
		if c := bv["if"]; c != nil {
			b.If = p.condition(c)
		} else if i < len(n.Content)-1 && !scripted {
			p.add(Warning, posOf(bn), "this branch has no `if`, so it always matches and the branches after it never run")
		}
		out = append(out, b)
	}
	if len(out) > 0 && out[len(out)-1].If != nil {
		p.add(Warning, posOf(n), "every branch of %s's `next` has a condition; when none holds the conversation stays where it is — add a last branch without `if`", what)
	}
	return out
}

func (p *parser) condition(n *yaml.Node) *Condition {
	vals, _, ok := p.fields(n, "condition", "a condition")
	if !ok || vals["var"] == nil {
		return nil
	}
	c := &Condition{Pos: posOf(n), Var: vals["var"].Value}
	if !validPath(c.Var) {
		p.errorf(vals["var"], "%q is not a variable name", c.Var)
	}
	var ops []string
	for _, op := range Operators {
		if vals[op] != nil {
			ops = append(ops, op)
		}
	}
	if len(ops) != 1 {
		p.errorf(n, "a condition needs exactly one of %s, not %d", strings.Join(Operators, ", "), len(ops))
		return c
	}
	c.Op = ops[0]
	v := vals[c.Op]
	switch c.Op {
	case "in":
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				c.Values = append(c.Values, e.Value)
			}
		} else {
			c.Values = []string{v.Value}
		}
	case "matches":
		re, err := regexp.Compile(v.Value)
		if err != nil {
			p.errorf(v, "not a valid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		c.Regexp = re
	case "present", "absent":
		if v.Value != "true" {
			p.errorf(v, "write `%s: true`", c.Op)
		}
	default:
		c.Value = v.Value
	}
	return c
}

func (p *parser) command(n *yaml.Node) *Command {
	vals, _, ok := p.fields(n, "command", "a command")
	if !ok || vals["goto"] == nil {
		return nil
	}
	c := &Command{Pos: posOf(n), Goto: p.target(vals["goto"])}
	strs := func(v *yaml.Node) []string {
		if v == nil {
			return nil
		}
		if v.Kind == yaml.SequenceNode {
			var out []string
			for _, e := range v.Content {
				out = append(out, e.Value)
			}
			return out
		}
		return []string{v.Value}
	}
	c.Match = strs(vals["match"])
	c.Clicks = strs(vals["clicks"])
	if v := vals["pattern"]; v != nil {
		re, err := regexp.Compile(v.Value)
		if err != nil {
			p.errorf(v, "not a valid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		c.Pattern = re
	}
	if len(c.Match) == 0 && c.Pattern == nil && len(c.Clicks) == 0 {
		p.errorf(n, "a command needs `match`, `pattern` or `clicks`")
	}
	return c
}

// inlineScript records a script's source and where its first character is.
func (p *parser) inlineScript(n *yaml.Node) *Script {
	sc := &Script{Source: n.Value, File: p.file, Line: n.Line, Column: n.Column}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The content starts on the next line, at its indentation.
		sc.Line = n.Line + 1
		lines := strings.Split(strings.ReplaceAll(string(p.src), "\r\n", "\n"), "\n")
		for l := sc.Line; l <= len(lines); l++ {
			if text := lines[l-1]; strings.TrimSpace(text) != "" {
				sc.Line = l
				sc.Indent = len(text) - len(strings.TrimLeft(text, " "))
				break
			}
		}
		sc.Column = sc.Indent + 1
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		sc.Column++
	}
	if strings.TrimSpace(sc.Source) == "" {
		p.errorf(n, "the script is empty")
	}
	if len(sc.Source) > MaxScriptBytes {
		p.errorf(n, "the script is %d bytes; at most %d are allowed — move logic into a service behind an `http` step", len(sc.Source), MaxScriptBytes)
	}
	return sc
}

// MaxScriptBytes is the largest script accepted.
const MaxScriptBytes = 64 << 10

// scriptFile reads a .js file that sits beside the flow (or below it).
func (p *parser) scriptFile(n *yaml.Node) *Script {
	name := n.Value
	if filepath.IsAbs(name) || strings.Contains(filepath.ToSlash(name), "..") || filepath.Ext(name) != ".js" {
		p.errorf(n, "script_file %q must be a .js file beside the flow (a relative path without ..)", name)
		return nil
	}
	path := filepath.Join(filepath.Dir(p.file), name)
	src, err := os.ReadFile(path)
	if err != nil {
		p.errorf(n, "cannot read script_file %q: %v", name, errors.Unwrap(err))
		return nil
	}
	if len(src) > MaxScriptBytes {
		p.errorf(n, "script_file %q is %d bytes; at most %d are allowed", name, len(src), MaxScriptBytes)
		return nil
	}
	return &Script{Source: string(src), File: filepath.ToSlash(path), Line: 1, Column: 1}
}

// HTTPMethods are the methods an http step may use.
var HTTPMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

var fieldPathRe = regexp.MustCompile(`^(@status|[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*)$`)

func (p *parser) httpStep(n *yaml.Node) *HTTPStep {
	vals, _, ok := p.fields(n, "http", "an http step")
	if !ok || vals["url"] == nil {
		return nil
	}
	h := &HTTPStep{Pos: posOf(n), Method: "GET", URL: p.template(vals["url"]), Timeout: 10}
	if v := vals["method"]; v != nil {
		h.Method = strings.ToUpper(v.Value)
		if !contains(HTTPMethods, h.Method) {
			p.errorf(v, "unknown HTTP method %q (use %s)", v.Value, strings.Join(HTTPMethods, ", "))
		}
	}
	if v := vals["headers"]; v != nil {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if !isScalar(val) {
				p.errorf(val, "header %q must be a text", k.Value)
				continue
			}
			h.Headers = append(h.Headers, Header{Name: k.Value, Value: p.template(val)})
		}
	}
	if v := vals["body"]; v != nil {
		t := p.template(v)
		h.Body = &t
	}
	if v := vals["json"]; v != nil {
		if h.Body != nil {
			p.errorf(v, "an http step has `body` or `json`, not both")
		}
		j := p.value(v)
		h.JSON = &j
	}
	if v := vals["timeout"]; v != nil {
		h.Timeout, _ = strconv.ParseFloat(v.Value, 64)
		if !(h.Timeout > 0 && h.Timeout <= MaxHTTPTimeout) {
			p.errorf(v, "timeout must be more than 0 and at most %d seconds, not %s", MaxHTTPTimeout, v.Value)
		}
	}
	if v := vals["async"]; v != nil {
		h.Async = v.Value == "true"
	}
	if v := vals["save"]; v != nil {
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, path := v.Content[i], v.Content[i+1]
			if !validIdent(k.Value) || strings.Contains(k.Value, "-") || reservedVar(k.Value) {
				p.errorf(k, "%q is not a variable name you can save to (letters, digits and _, not a built-in)", k.Value)
				continue
			}
			if !isScalar(path) || !fieldPathRe.MatchString(path.Value) {
				p.errorf(path, "%q is not a field path (write e.g. status, order.items.0.name, or @status)", path.Value)
				continue
			}
			h.Save = append(h.Save, FieldSave{Var: k.Value, Path: path.Value})
		}
	}
	return h
}

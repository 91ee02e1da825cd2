package flowtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
)

// linter collects the problems of one test file, each at its position.
type linter struct {
	file  string
	lints flows.Lints
}

func (l *linter) add(n *yaml.Node, format string, args ...any) {
	l.lints = append(l.lints, flows.Lint{File: l.file, Line: n.Line, Column: n.Column, Level: flows.Error, What: fmt.Sprintf(format, args...)})
}

// err is the lints as one error (nil when there are none), in file order.
func (l *linter) err() error {
	if len(l.lints) == 0 {
		return nil
	}
	l.lints.Sort()
	return &flows.LoadError{Lints: l.lints}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// expandMerges writes the keys of YAML merges (`<<: *defaults`) into the
// mappings that merge them, so that the checks see them (their positions
// stay where they are written).
func expandMerges(n *yaml.Node, seen map[*yaml.Node]bool) {
	n = resolve(n)
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	for _, c := range n.Content {
		expandMerges(c, seen)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	var own, merged []*yaml.Node
	has := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Tag != "!!merge" {
			own = append(own, k, n.Content[i+1])
			has[k.Value] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		from := []*yaml.Node{resolve(n.Content[i+1])}
		if from[0].Kind == yaml.SequenceNode {
			from = from[0].Content
		}
		for _, m := range from {
			if m = resolve(m); m.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(m.Content); j += 2 {
				if k := m.Content[j]; !has[k.Value] {
					merged = append(merged, k, m.Content[j+1])
					has[k.Value] = true
				}
			}
		}
	}
	n.Content = append(own, merged...)
}

// mappings are the items of a list that are mappings (none if seq is not
// a list).
func mappings(seq *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	if seq = resolve(seq); seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	for _, item := range seq.Content {
		if item = resolve(item); item.Kind == yaml.MappingNode {
			out = append(out, item)
		}
	}
	return out
}

// pairs yields the keys and values of a mapping.
func pairs(n *yaml.Node) [][2]*yaml.Node {
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], resolve(n.Content[i+1])})
	}
	return out
}

// sectionNoun names a section's mapping in messages.
var sectionNoun = map[string]string{
	"file": "the test file", "test": "a test", "mock": "a mock", "request": "a mock's request",
	"turn": "a turn", "location": "a location", "expect": "an expectation",
}

// hint suggests a candidate for a misspelt word: a close one, else one
// that starts with it (whatsapp → whatsapp_business).
func hint(word string, candidates []string) string {
	if h := flows.DidYouMean(word, candidates); h != "" {
		return h
	}
	for _, c := range candidates {
		if len(word) >= 3 && strings.HasPrefix(strings.ToLower(c), strings.ToLower(word)) {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
	}
	return ""
}

// section checks a mapping against the keys of its section and returns
// its known keys' values; unknown reports whether it had unknown keys.
func (l *linter) section(n *yaml.Node, section string) (vals map[string]*yaml.Node, unknown bool) {
	vals = map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		l.add(n, "%s must be a mapping of keys (%s)", sectionNoun[section], strings.Join(keysOf(section), ", "))
		return vals, true
	}
	fields := fieldsOf(section)
	for _, kv := range pairs(n) {
		k, v := kv[0], kv[1]
		i := slices.IndexFunc(fields, func(f Field) bool { return f.Key == k.Value })
		if i < 0 && section == "file" && strings.HasPrefix(k.Value, "x-") {
			continue // a place for YAML anchors that the tests merge
		}
		if i < 0 {
			unknown = true
			if h := hint(k.Value, keysOf(section)); h != "" {
				l.add(k, "unknown key %q in %s%s", k.Value, sectionNoun[section], h)
			} else {
				l.add(k, "unknown key %q in %s; its keys are %s", k.Value, sectionNoun[section], strings.Join(keysOf(section), ", "))
			}
			continue
		}
		if _, dup := vals[k.Value]; dup {
			l.add(k, "%s: written twice", k.Value)
		}
		vals[k.Value] = v
		l.value(k.Value, v, fields[i])
	}
	return vals, unknown
}

// value checks a value's shape and walks into its section.
func (l *linter) value(key string, v *yaml.Node, f Field) {
	switch f.Kind {
	case Scalar:
		if v.Kind != yaml.ScalarNode {
			l.add(v, "%s must be a single value, not a %s", key, shape(v))
		}
	case List:
		if v.Kind != yaml.SequenceNode {
			l.add(v, "%s must be a list, such as [a, b]", key)
			return
		}
		for _, item := range v.Content {
			if item = resolve(item); item.Kind != yaml.ScalarNode {
				l.add(item, "%s: each item must be a single value, not a %s", key, shape(item))
			}
		}
	case Map, Data:
		if v.Kind != yaml.MappingNode {
			l.add(v, "%s must be a mapping of names to values, such as {name: Ada}", key)
			return
		}
		for _, kv := range pairs(v) {
			if f.Kind == Map && kv[1].Kind != yaml.ScalarNode {
				l.add(kv[1], "%s: %s must be a single value, not a %s", key, kv[0].Value, shape(kv[1]))
			}
		}
	case Struct:
		l.check(v, f.Child)
	case StructSeq:
		if v.Kind != yaml.SequenceNode {
			l.add(v, "%s must be a list (each item starts with \"- \")", key)
			return
		}
		for _, item := range v.Content {
			l.check(resolve(item), f.Child)
		}
	}
}

func shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// check checks one mapping of a section: its keys, then what its section
// requires of them together.
func (l *linter) check(n *yaml.Node, section string) {
	if section == "expect" && n.Kind == yaml.ScalarNode {
		return // the short form: a text
	}
	vals, unknown := l.section(n, section)
	if n.Kind != yaml.MappingNode {
		return
	}
	switch section {
	case "file":
		switch t := vals["tests"]; {
		case t == nil:
			l.add(n, "the file has no tests; add tests: with at least one conversation")
		case t.Kind == yaml.SequenceNode && len(t.Content) == 0:
			l.add(t, "the file has no tests; add at least one conversation to tests:")
		}
	case "test":
		if vals["name"] == nil {
			l.add(n, "a test needs a name: (it is printed with its failures)")
		}
		if t := vals["turns"]; t == nil || t.Kind == yaml.SequenceNode && len(t.Content) == 0 {
			l.add(n, "a test needs turns: (what the contact does and what the bot answers)")
		}
		if now := vals["now"]; now != nil {
			if _, err := time.Parse(time.RFC3339, now.Value); err != nil {
				l.add(now, "now: %q is not an RFC 3339 time such as 2026-01-01T12:00:00Z", now.Value)
			}
		}
	case "mock":
		l.mock(n, vals)
	case "turn":
		l.turn(n, vals, unknown)
	case "expect":
		l.expect(n, vals, unknown)
	case "location":
		for _, k := range []string{"latitude", "longitude"} {
			v := vals[k]
			if v == nil {
				l.add(n, "a location needs %s:", k)
			} else if _, err := strconv.ParseFloat(v.Value, 64); err != nil {
				l.add(v, "%s must be a number of degrees, not %q", k, v.Value)
			}
		}
	}
}

// has lists which of keys are set.
func has(vals map[string]*yaml.Node, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if vals[k] != nil {
			out = append(out, k)
		}
	}
	return out
}

func (l *linter) mock(n *yaml.Node, vals map[string]*yaml.Node) {
	pattern := func(key string) {
		if v := vals[key]; v != nil {
			if err := checkPattern(v.Value); err != nil {
				l.add(v, "%s: %v", key, err)
			}
		}
	}
	if vals["llm"] == nil {
		switch {
		case vals["reply"] != nil:
			l.add(vals["reply"], "a mock has reply: but no llm:; add llm: with the user's message it answers (\"\" for any), or use json: or body: for an HTTP mock")
		case len(has(vals, "system_contains", "history_contains")) > 0:
			l.add(n, "system_contains: and history_contains: check llm requests; add llm: with the user's message the mock answers (\"\" for any)")
		case vals["url"] == nil:
			l.add(n, "a mock needs url: (it answers HTTP requests to that URL) or llm: (it answers llm steps)")
		}
		if len(has(vals, "json", "body", "error")) > 1 {
			l.add(n, "a mock answers with one of json:, body: or error:, not %s", strings.Join(has(vals, "json", "body", "error"), " and "))
		}
		if s := vals["status"]; s != nil {
			if code, err := strconv.Atoi(s.Value); err != nil || code < 100 || code > 599 {
				l.add(s, "status must be an HTTP status code (100–599), not %q", s.Value)
			}
		}
		if r := vals["request"]; r != nil && r.Kind == yaml.MappingNode {
			rv := map[string]bool{}
			for _, kv := range pairs(r) {
				rv[kv[0].Value] = true
			}
			if rv["json"] && rv["json_contains"] || (rv["json"] || rv["json_contains"]) && rv["body"] {
				l.add(r, "a request checks its body one way: json:, json_contains: or body: (body_contains: may go with any)")
			}
			if h := mapValue(r, "headers"); h != nil {
				for _, kv := range pairs(h) {
					if err := checkPattern(kv[1].Value); err != nil {
						l.add(kv[1], "headers: %s: %v", kv[0].Value, err)
					}
				}
			}
		}
		pattern("url")
		return
	}
	switch {
	case len(has(vals, "url", "method", "request")) > 0:
		l.add(n, "a mock has both llm: and %s:; an llm mock answers llm steps and an HTTP mock HTTP steps — write two mocks", has(vals, "url", "method", "request")[0])
	case len(has(vals, "status", "json", "body")) > 0:
		l.add(n, "an llm mock answers with reply: (or error:), not status:, json: or body:")
	case vals["reply"] == nil && vals["error"] == nil:
		l.add(n, "an llm mock needs reply: (the model's text) or error: (a failed request)")
	case vals["reply"] != nil && vals["error"] != nil:
		l.add(n, "an llm mock has reply: and error:; keep one")
	}
	pattern("llm")
}

// actions are the keys of a turn that say what the contact does.
var actions = []string{"send", "click", "media", "location", "event", "silence"}

func (l *linter) turn(n *yaml.Node, vals map[string]*yaml.Node, unknown bool) {
	if set := has(vals, actions...); len(set) != 1 && !(unknown && len(set) == 0) {
		if len(set) == 0 {
			l.add(n, "a turn needs one of %s", strings.Join(actions, ", "))
		} else {
			l.add(n, "a turn does one thing; it has %s (write a turn for each)", strings.Join(set, " and "))
		}
	}
	if s := vals["silence"]; s != nil {
		if _, err := parseSilence(s); err != nil {
			l.add(s, "%v", err)
		}
	}
	if e := vals["event"]; e != nil && e.Value == engine.EvSilence {
		l.add(e, "event: silence carries no rule; write silence: true to let the armed follow-up fire")
	}
}

func (l *linter) expect(n *yaml.Node, vals map[string]*yaml.Node, unknown bool) {
	set := has(vals, "text", "match", "choice", "event")
	switch {
	case len(set) == 0 && !unknown:
		l.add(n, "an expectation needs one of text, match, choice or event")
	case len(set) > 1:
		l.add(n, "an expectation checks one thing; it has %s (write one for each packet)", strings.Join(set, " and "))
	}
	if p := vals["payload"]; p != nil && vals["event"] == nil {
		l.add(p, "payload: goes with event: (the packet's name)")
	}
	if m := vals["match"]; m != nil {
		if _, err := regexp.Compile(m.Value); err != nil {
			l.add(m, "match: %v", err)
		}
	}
}

// parseSilence reads `true` or a duration.
func parseSilence(n *yaml.Node) (Silence, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "true" {
			return Silence{}, nil
		}
		if d, err := time.ParseDuration(n.Value); err == nil && d > 0 {
			return Silence{After: d}, nil
		}
	}
	return Silence{}, fmt.Errorf("silence must be true or a duration such as 10m (when the follow-up is due), not %q", n.Value)
}

// against checks what a test file names in its flow: start and turn
// states, channels, clicked and expected option ids, and variables.
func (l *linter) against(doc *yaml.Node, f *flows.Flow) {
	root := resolve(doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = resolve(root.Content[0])
	}
	ids, _ := optionsOf(f)
	events := eventsOf(f)
	set, mentioned := knownVars(f)
	state := func(v *yaml.Node) {
		if v != nil && v.Kind == yaml.ScalarNode && f.States[v.Value] == nil {
			l.add(v, "unknown state %q in flow %s%s", v.Value, f.Name, hint(v.Value, f.Order))
		}
	}
	variables := func(m *yaml.Node, asserted bool) {
		if m == nil || m.Kind != yaml.MappingNode {
			return
		}
		for _, kv := range pairs(m) {
			if name := kv[0].Value; !set[name] && !mentioned[name] {
				what := "sets"
				if asserted {
					what = "checks"
				}
				h := hint(name, sortedSet(set))
				if h == "" {
					h = "; it sets " + strings.Join(sortedSet(set), ", ")
				}
				l.add(kv[0], "the test %s the variable %q, which flow %s never sets or reads%s", what, name, f.Name, h)
			}
		}
	}
	option := func(v *yaml.Node, key string) {
		if v.Kind != yaml.ScalarNode {
			return
		}
		if err := CheckClick(f, v.Value); err != nil {
			l.add(v, "%s: %v", key, err)
		}
	}
	for _, t := range mappings(mapValue(root, "tests")) {
		state(mapValue(t, "state"))
		variables(mapValue(t, "vars"), false)
		if chs := mapValue(t, "channels"); chs != nil && chs.Kind == yaml.SequenceNode {
			for _, c := range chs.Content {
				if c = resolve(c); c.Kind == yaml.ScalarNode && !slices.Contains(channels.Types, c.Value) {
					l.add(c, "unknown channel %q%s; the channels are %s", c.Value, hint(c.Value, channels.Types), strings.Join(channels.Types, ", "))
				}
			}
		}
		for _, turn := range mappings(mapValue(t, "turns")) {
			state(mapValue(turn, "state"))
			variables(mapValue(turn, "vars"), true)
			if c := mapValue(turn, "click"); c != nil {
				option(c, "click")
			}
			if e := mapValue(turn, "event"); e != nil && e.Kind == yaml.ScalarNode && e.Value != engine.EvSilence && !slices.Contains(events, e.Value) {
				l.add(e, "event: %q is not an event the platform sends or flow %s handles%s; the events are %s", e.Value, f.Name, hint(e.Value, events), strings.Join(events, ", "))
			}
			if ex := mapValue(turn, "expect"); ex != nil && ex.Kind == yaml.SequenceNode {
				for _, e := range ex.Content {
					if c := mapValue(resolve(e), "choice"); c != nil && c.Kind == yaml.SequenceNode {
						for _, id := range c.Content {
							if ids[id.Value] {
								continue
							}
							l.add(id, "choice: flow %s has no option %q%s", f.Name, id.Value, hint(id.Value, sortedSet(ids)))
						}
					}
				}
			}
		}
	}
}

// missingFlow reports a flow file that does not exist: at `flow:`, or at
// the top when the test file's name gives it.
func (l *linter) missingFlow(doc *yaml.Node, testPath, flowPath string) {
	at := resolve(doc.Content[0])
	what := fmt.Sprintf("the flow %s does not exist (the test file is named after it; add flow: FILE to name another)", flowPath)
	if v := mapValue(at, "flow"); v != nil {
		at, what = v, fmt.Sprintf("flow: %s does not exist", v.Value)
	}
	var names []string
	entries, _ := os.ReadDir(filepath.Dir(flowPath))
	for _, e := range entries {
		if n := e.Name(); flows.IsFlowFile(n) {
			names = append(names, n)
		}
	}
	l.add(at, "%s%s", what, hint(filepath.Base(flowPath), names))
}

// CheckClick returns an error unless id is the id or label of an option
// of one of the flow's choices (or a click a command takes): a test
// file's click must name one, so a recorder cannot record another.
func CheckClick(f *flows.Flow, id string) error {
	ids, labels := optionsOf(f)
	if ids[id] || labels[strings.ToLower(id)] {
		return nil
	}
	return fmt.Errorf("flow %s has no option %q%s", f.Name, id, hint(id, sortedSet(ids)))
}

// eventsOf lists the events a test may send: the platform's, and those
// the flow handles in an `on:`.
func eventsOf(f *flows.Flow) []string {
	set := map[string]bool{engine.EvForwardFailed: true, engine.EvCampaignUnsubscribe: true}
	add := func(on map[string]flows.Target) {
		for ev := range on {
			if ev != "error" {
				set[ev] = true
			}
		}
	}
	add(f.On)
	for _, st := range f.States {
		add(st.On)
	}
	return sortedSet(set)
}

// optionsOf lists the option ids of a flow's choices (and its commands'
// clicks) and their labels, lower-cased.
func optionsOf(f *flows.Flow) (ids, labels map[string]bool) {
	ids, labels = map[string]bool{}, map[string]bool{}
	for _, st := range f.States {
		if st.Choice == nil {
			continue
		}
		for _, o := range st.Choice.Options {
			ids[o.ID] = true
			labels[strings.ToLower(o.Label.Source)] = true
		}
	}
	for _, c := range f.Commands {
		for _, id := range c.Clicks {
			ids[id] = true
		}
	}
	return ids, labels
}

// scriptAssigns finds the variables a script assigns (vars.x = …).
var scriptAssigns = regexp.MustCompile(`\bvars\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:=[^=]|\+=)|\bvars\[\s*["']([A-Za-z_][A-Za-z0-9_]*)["']\s*\]\s*=[^=]`)

var identifier = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// knownVars are the variables a flow may hold: those its steps set, and
// any name its source mentions (templates, conditions, scripts).
func knownVars(f *flows.Flow) (set, mentioned map[string]bool) {
	out := map[string]bool{}
	for _, st := range f.States {
		if st.Ask != nil && st.Ask.Save != "" {
			out[st.Ask.Save] = true
		}
		if st.HTTP != nil {
			for _, fs := range st.HTTP.Save {
				out[fs.Var] = true
			}
		}
		if st.LLM != nil && st.LLM.Save != "" {
			out[st.LLM.Save] = true
		}
		for _, a := range st.Set {
			out[a.Var] = true
		}
		if st.Script != nil {
			for _, m := range scriptAssigns.FindAllStringSubmatch(st.Script.Source, -1) {
				out[m[1]+m[2]] = true
			}
		}
	}
	mentioned = map[string]bool{flows.HistoryVar: true}
	for _, w := range identifier.FindAllString(string(f.Source), -1) {
		mentioned[w] = true
	}
	return out, mentioned
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// yamlError places a YAML syntax or decoding error in the file.
var yamlLine = regexp.MustCompile(`line (\d+): `)

func (l *linter) yamlError(err error) {
	msgs := []string{err.Error()}
	if te, ok := err.(*yaml.TypeError); ok {
		msgs = te.Errors
	}
	for _, msg := range msgs {
		msg = strings.TrimPrefix(msg, "yaml: ")
		line := 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.Replace(msg, m[0], "", 1)
		}
		l.lints = append(l.lints, flows.Lint{File: l.file, Line: line, Column: 1, Level: flows.Error, What: msg})
	}
}

package flows

import (
	"fmt"
	"strings"
	"time"
)

// edgeLabel is how a graph labels a transition.
func edgeLabel(st *State, e Edge) string {
	switch {
	case strings.HasPrefix(e.Trigger, "option:"):
		id := strings.TrimPrefix(e.Trigger, "option:")
		for _, o := range st.Choice.Options {
			if o.ID == id {
				return o.Label.Source
			}
		}
		return id
	case strings.HasPrefix(e.Trigger, "next"):
		for i, b := range st.Next {
			if BranchTrigger(i, b) == e.Trigger && b.If != nil {
				return "if " + conditionText(b.If)
			}
		}
		if k := st.Waiting(); k != nil {
			return k.Next
		}
		return ""
	case e.Trigger == "give_up":
		return fmt.Sprintf("%d invalid", st.Ask.Retries)
	case strings.HasPrefix(e.Trigger, "status:"):
		return strings.TrimPrefix(e.Trigger, "status:")
	case strings.HasPrefix(e.Trigger, "on:"):
		return strings.TrimPrefix(e.Trigger, "on:")
	case strings.HasPrefix(e.Trigger, "silence:"):
		for i, sl := range st.Silence {
			if SilenceTrigger(i) == e.Trigger {
				return "silent " + ShortDuration(sl.After)
			}
		}
	}
	return e.Trigger
}

// ShortDuration writes d without zero units: 1h30m, 10m, 90s → 1m30s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func conditionText(c *Condition) string {
	switch c.Op {
	case "present", "absent":
		return c.Var + " " + c.Op
	case "in":
		return c.Var + " in " + strings.Join(c.Values, ", ")
	case "matches":
		if c.Regexp != nil {
			return c.Var + " matches " + c.Regexp.String()
		}
	}
	return c.Var + " " + c.Op + " " + c.Value
}

// isErrorPath reports whether an edge is an error or give-up path.
func isErrorPath(e Edge) bool {
	return e.Error || e.Trigger == "give_up" || e.Trigger == "otherwise"
}

// Mermaid draws the flow as a Mermaid flowchart: states, transitions
// labelled by their trigger, error paths dashed, global commands and
// flow-wide handlers apart.
func Mermaid(f *Flow) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	id := func(name string) string { return "s_" + strings.ReplaceAll(name, "-", "_") }
	fmt.Fprintf(&b, "  start((start)) --> %s\n", id(f.Start))
	for _, name := range f.Order {
		st := f.States[name]
		shape := "[%q]"
		if k := st.Waiting(); k != nil && k.Mermaid != "" {
			shape = k.Mermaid
		} else if st.Terminal() {
			shape = "([%q])"
		}
		fmt.Fprintf(&b, "  %s"+shape+"\n", id(name), name)
	}
	for _, name := range f.Order {
		st := f.States[name]
		for _, e := range st.Edges() {
			label := edgeLabel(st, e)
			arrow := "-->"
			if isErrorPath(e) {
				arrow = "-.->"
			}
			if label != "" {
				fmt.Fprintf(&b, "  %s %s|%s| %s\n", id(name), arrow, mermaidText(label), id(e.Target.State))
			} else {
				fmt.Fprintf(&b, "  %s %s %s\n", id(name), arrow, id(e.Target.State))
			}
		}
	}
	if len(f.Commands) > 0 || len(f.On) > 0 {
		b.WriteString("  subgraph anywhere[\"from any state\"]\n")
		for i, c := range f.Commands {
			fmt.Fprintf(&b, "    cmd%d([%q])\n", i, commandText(c))
		}
		for _, ev := range sortedKeys(f.On) {
			fmt.Fprintf(&b, "    on_%s([%q])\n", ev, ev)
		}
		b.WriteString("  end\n")
		for i, c := range f.Commands {
			fmt.Fprintf(&b, "  cmd%d -.-> %s\n", i, id(c.Goto.State))
		}
		for _, ev := range sortedKeys(f.On) {
			fmt.Fprintf(&b, "  on_%s -.-> %s\n", ev, id(f.On[ev].State))
		}
	}
	return b.String()
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "|", "#124;", "\n", " ")
	return `"` + r.Replace(s) + `"`
}

func commandText(c *Command) string {
	var parts []string
	parts = append(parts, c.Match...)
	if c.Pattern != nil {
		parts = append(parts, "/"+c.Pattern.String()+"/")
	}
	for _, id := range c.Clicks {
		parts = append(parts, "click "+id)
	}
	return strings.Join(parts, " | ")
}

// DOT draws the flow in Graphviz's DOT language, with the same conventions
// as Mermaid.
func DOT(f *Flow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n", f.Name)
	b.WriteString("  \"(start)\" [shape=circle];\n")
	fmt.Fprintf(&b, "  \"(start)\" -> %q;\n", f.Start)
	for _, name := range f.Order {
		st := f.States[name]
		shape := "box"
		if k := st.Waiting(); k != nil && k.DOT != "" {
			shape = k.DOT
		} else if st.Terminal() {
			shape = "doubleoctagon"
		}
		fmt.Fprintf(&b, "  %q [shape=%s];\n", name, shape)
	}
	for _, name := range f.Order {
		st := f.States[name]
		for _, e := range st.Edges() {
			attrs := []string{}
			if l := edgeLabel(st, e); l != "" {
				attrs = append(attrs, fmt.Sprintf("label=%q", l))
			}
			if isErrorPath(e) {
				attrs = append(attrs, "style=dashed")
			}
			fmt.Fprintf(&b, "  %q -> %q [%s];\n", name, e.Target.State, strings.Join(attrs, ", "))
		}
	}
	if len(f.Commands) > 0 || len(f.On) > 0 {
		b.WriteString("  subgraph cluster_anywhere {\n    label=\"from any state\";\n    style=dotted;\n")
		for i, c := range f.Commands {
			fmt.Fprintf(&b, "    \"cmd%d\" [label=%q, shape=oval];\n", i, commandText(c))
		}
		for _, ev := range sortedKeys(f.On) {
			fmt.Fprintf(&b, "    \"on:%s\" [label=%q, shape=oval];\n", ev, ev)
		}
		b.WriteString("  }\n")
		for i, c := range f.Commands {
			fmt.Fprintf(&b, "  \"cmd%d\" -> %q [style=dotted];\n", i, c.Goto.State)
		}
		for _, ev := range sortedKeys(f.On) {
			fmt.Fprintf(&b, "  \"on:%s\" -> %q [style=dashed];\n", ev, f.On[ev].State)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

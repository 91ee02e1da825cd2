package flows

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 reports a syntax error at the line where it gave up, often the
// start of the enclosing block, and in its own words. locateYAMLError
// re-reads the file's line structure up to that line and names the first
// mistake it recognises — a tab in the indentation, a line indented to no
// enclosing block, a quote or bracket never closed, a second ": " in a
// plain value — at its own line and column. When it recognises none, the
// parser's line stands.

// yamlMistake is a mistake found in a file's lines.
type yamlMistake struct {
	pos  Pos
	what string
}

// locateYAMLError finds the mistake behind a syntax error the parser
// reported at line (1-based; 0: unknown).
func locateYAMLError(src []byte, line int) (yamlMistake, bool) {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	if line <= 0 || line > len(lines) {
		line = len(lines)
	}
	if m, ok := findTab(lines); ok {
		return m, true
	}
	// The parser stops in the block that holds the mistake, at or before
	// it: take the first mistake from its line on, else the last before.
	var before *yamlMistake
	for _, m := range lineMistakes(lines) {
		if m.pos.Line >= line {
			return m, true
		}
		before = &m
	}
	if before != nil {
		return *before, true
	}
	return yamlMistake{}, false
}

// lineMistakes lists the mistakes the lines show, in order.
func lineMistakes(lines []string) []yamlMistake {
	var out []yamlMistake
	stack := []int{0}
	opens := false    // the previous content line opens a block (ends with ':' or is "- key:")
	blockScalar := -1 // indentation of the line that started a block scalar (| or >); -1: none
	for i := 0; i < len(lines); i++ {
		text := lines[i]
		content := strings.TrimLeft(text, " ")
		indent := len(text) - len(content)
		if content == "" || strings.HasPrefix(content, "#") {
			continue
		}
		if blockScalar >= 0 {
			if indent > blockScalar {
				continue
			}
			blockScalar = -1
		}
		n := i + 1
		switch top := stack[len(stack)-1]; {
		case indent > top && !opens:
			out = append(out, yamlMistake{Pos{n, indent + 1}, fmt.Sprintf("this line is indented more than the line above, whose value is already given on its own line; align it with the line above (column %d) or give that line's value on the lines below", top+1)})
			stack = append(stack, indent)
		case indent > top:
			stack = append(stack, indent)
		case indent < top:
			popped := top
			for len(stack) > 1 && stack[len(stack)-1] > indent {
				popped = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			if stack[len(stack)-1] != indent {
				out = append(out, yamlMistake{Pos{n, indent + 1}, fmt.Sprintf("this line is indented by %d spaces, which matches no block above it; indent it like the keys it belongs with: column %d or column %d", indent, popped+1, stack[len(stack)-1]+1)})
				stack = append(stack, indent)
			}
		}
		body := stripComment(content)
		if m, ok := unclosed(body, n, indent); ok {
			out = append(out, m)
		} else if c := secondColon(body); c >= 0 {
			out = append(out, yamlMistake{Pos{n, indent + c + 1}, "a second \": \" in a plain value; put the value in quotes (key: \"a: b\")"})
		}
		item := strings.HasPrefix(body, "- ")
		if item {
			// "- key: value" opens a mapping at the key's column.
			stack = append(stack, indent+2)
		}
		opens = strings.HasSuffix(body, ":") || body == "-" || item && strings.HasSuffix(body, ":")
		if v := valueOf(body); v == "|" || v == ">" || strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			blockScalar = indent
			opens = false
		}
	}
	return out
}

// findTab finds a tab in a line's indentation.
func findTab(lines []string) (yamlMistake, bool) {
	for i, text := range lines {
		for j, r := range text {
			if r == '\t' {
				return yamlMistake{Pos{i + 1, j + 1}, "a tab indents this line; YAML indents with spaces only — replace the tab with spaces"}, true
			}
			if r != ' ' {
				break
			}
		}
	}
	return yamlMistake{}, false
}

// stripComment removes a trailing " # comment" outside quotes.
func stripComment(s string) string {
	quote := rune(0)
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return strings.TrimRight(s, " ")
}

// valueOf is the value part of "key: value" or "- value".
func valueOf(body string) string {
	body = strings.TrimPrefix(body, "- ")
	if k := keyEnd(body); k >= 0 {
		return strings.TrimSpace(body[k+1:])
	}
	return body
}

// keyEnd is the index of the colon ending a plain key, or -1.
func keyEnd(body string) int {
	if body == "" || strings.ContainsRune("\"'[{|>&*!", rune(body[0])) {
		return -1
	}
	for i := 0; i < len(body); i++ {
		if body[i] == ':' && (i+1 == len(body) || body[i+1] == ' ') {
			return i
		}
	}
	return -1
}

// unclosed finds a quote or bracket a value opens and never closes on its line.
func unclosed(body string, line, indent int) (yamlMistake, bool) {
	rest := strings.TrimPrefix(body, "- ")
	off := len(body) - len(rest)
	if k := keyEnd(rest); k >= 0 {
		v := rest[k+1:]
		off += k + 1 + len(v) - len(strings.TrimLeft(v, " "))
		rest = strings.TrimLeft(v, " ")
	}
	if rest == "" {
		return yamlMistake{}, false
	}
	col := indent + off + 1
	switch rest[0] {
	case '"', '\'':
		q := rest[0]
		for i := 1; i < len(rest); i++ {
			if q == '"' && rest[i] == '\\' {
				i++
				continue
			}
			if rest[i] == q {
				if q == '\'' && i+1 < len(rest) && rest[i+1] == '\'' {
					i++
					continue
				}
				return yamlMistake{}, false
			}
		}
		return yamlMistake{Pos{line, col}, fmt.Sprintf("this %c quote is not closed on its line; close it (or, for a long text, use a block: key: |)", q)}, true
	case '[', '{':
		depth, quote := 0, byte(0)
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '[' || c == '{':
				depth++
			case c == ']' || c == '}':
				depth--
			}
		}
		if depth > 0 {
			closer := map[byte]string{'[': "]", '{': "}"}[rest[0]]
			return yamlMistake{Pos{line, col}, fmt.Sprintf("this %c is not closed on its line; add the %s (and a comma between items)", rest[0], closer)}, true
		}
	}
	return yamlMistake{}, false
}

// secondColon finds ": " inside a plain (unquoted) value, which YAML reads
// as a second key; -1 if none.
func secondColon(body string) int {
	rest := strings.TrimPrefix(body, "- ")
	off := len(body) - len(rest)
	k := keyEnd(rest)
	if k < 0 {
		return -1
	}
	v := rest[k+1:]
	trimmed := strings.TrimLeft(v, " ")
	if trimmed == "" || strings.ContainsRune("\"'[{|>&*!", rune(trimmed[0])) {
		return -1
	}
	if j := strings.Index(trimmed, ": "); j >= 0 {
		return off + k + 1 + (len(v) - len(trimmed)) + j
	}
	if strings.HasSuffix(trimmed, ":") {
		return off + k + 1 + (len(v) - len(trimmed)) + len(trimmed) - 1
	}
	return -1
}

// checkNoAnchors reports anchors (&name), aliases (*name) and merge keys
// (<<): flows do not support them, so that every state reads as written.
func (p *parser) checkNoAnchors(n *yaml.Node) {
	if n == nil {
		return
	}
	switch {
	case n.Kind == yaml.AliasNode:
		p.errorf(n, "aliases (*%s) are not supported in flows; write the values out where they are used", n.Value)
		return
	case n.Anchor != "":
		p.errorf(n, "anchors (&%s) are not supported in flows; write the values out where they are used", n.Anchor)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value == "<<" && k.Tag == "!!merge" {
				p.errorf(k, "merge keys (<<) are not supported in flows; write the keys out in each mapping")
				continue
			}
			p.checkNoAnchors(n.Content[i])
			p.checkNoAnchors(n.Content[i+1])
		}
		return
	}
	for _, c := range n.Content {
		p.checkNoAnchors(c)
	}
}

var aliasRe = regexp.MustCompile(`(?m)(^|[\s\[{,:-])\*([A-Za-z0-9_-]+)`)

// findAlias finds the first alias (*name) in the file.
func findAlias(src []byte) (Pos, string, bool) {
	m := aliasRe.FindSubmatchIndex(src)
	if m == nil {
		return Pos{}, "", false
	}
	at := m[4] - 1 // the '*'
	line := 1 + strings.Count(string(src[:at]), "\n")
	col := at - (strings.LastIndex(string(src[:at]), "\n") + 1) + 1
	return Pos{line, col}, string(src[m[4]:m[5]]), true
}

package channels

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// TextFormatMarkdown is the Userlike text_format of a markdown message.
const TextFormatMarkdown = "markdown_v1"

// ConvertMarkdown prepares a markdown text (CommonMark: **bold**, *italic*
// or _italic_, ~~strike~~, `code`, ``` code blocks, [text](url), <url>,
// lists, > quotes, # headings) for a channel and returns the body and the
// text_format to send with it:
//
//   - web and custom: the text unchanged, text_format "markdown_v1";
//   - whatsapp_business, facebook, telegram, threema: converted to the
//     app's own syntax and sent as plain text (text_format ""): *bold*,
//     _italic_, ~strike~; `code` kept on Facebook and Telegram, ``` blocks
//     and [text](url) links kept on Telegram; elsewhere code loses its
//     backticks and fences and a link becomes "text (url)";
//   - sms: every markup removed, links as "text (url)".
//
// On converted channels headings and quotes are flattened to their text,
// list items lose their indentation, bullets become "- ", thematic breaks
// become "---", and backslash escapes become the character escaped. Text
// that is not markdown is never given to this function by Render.
func ConvertMarkdown(text, channelType string) (body string, textFormat string) {
	lim := limitsOf(channelType)
	switch lim.Markdown.Level {
	case MarkdownFull, MarkdownUnchanged:
		return text, TextFormatMarkdown
	}
	return convertMarkdown(text, &lim.Markdown), ""
}

// convertMarkdown converts CommonMark text into a channel's native syntax
// (or plain text when md.Level is MarkdownNone).
func convertMarkdown(text string, md *Markdown) string {
	c := mdConverter{md: md, plain: md.Level == MarkdownNone}
	c.out.Grow(len(text))
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var (
		inFence    bool
		fenceCh    byte
		fenceLen   int
		fenceQuote int
		prevPara   bool
	)
	for line := range strings.SplitSeq(text, "\n") {
		if inFence {
			content, _ := stripQuotes(line, fenceQuote)
			if isFenceClose(content, fenceCh, fenceLen) {
				inFence = false
				if md.CodeBlock {
					c.line(content)
				}
				continue
			}
			c.line(content)
			continue
		}
		content, depth := stripQuotes(line, -1)
		if ch, n, ok := fenceOpen(content); ok {
			c.flush()
			inFence, fenceCh, fenceLen, fenceQuote, prevPara = true, ch, n, depth, false
			if md.CodeBlock {
				c.line(content)
			}
			continue
		}
		if strings.TrimSpace(content) == "" {
			c.flush()
			c.line("")
			prevPara = false
			continue
		}
		if prevPara && isSetextUnderline(content) {
			c.flush()
			prevPara = false
			continue
		}
		if isThematicBreak(content) {
			c.flush()
			c.line("---")
			prevPara = false
			continue
		}
		if h, ok := atxHeading(content); ok {
			c.flush()
			c.line(c.inline(h))
			prevPara = false
			continue
		}
		if marker, rest, ok := listItem(content); ok {
			c.flush()
			c.line(marker + c.inline(rest))
			prevPara = false
			continue
		}
		c.para = append(c.para, content)
		prevPara = true
	}
	c.flush()
	out := c.out.String()
	if c.plain && strings.Contains(out, "**") {
		out = collapseStars(out)
	}
	return out
}

// mdConverter collects output lines; consecutive paragraph lines are
// converted together so that emphasis may span them.
type mdConverter struct {
	md    *Markdown
	plain bool
	out   strings.Builder
	lines int
	para  []string
}

func (c *mdConverter) line(s string) {
	if c.lines > 0 {
		c.out.WriteByte('\n')
	}
	c.lines++
	c.out.WriteString(s)
}

func (c *mdConverter) flush() {
	if len(c.para) == 0 {
		return
	}
	c.line(c.inline(strings.Join(c.para, "\n")))
	c.para = c.para[:0]
}

// collapseStars reduces every run of asterisks to one, so that plain (SMS)
// text never shows "**" left over from markdown, code or a URL.
func collapseStars(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '*' && i > 0 && s[i-1] == '*' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ---- block syntax ----

// indent returns the number of leading spaces of s if it is at most 3, else -1.
func indent(s string) int {
	n := 0
	for n < len(s) && s[n] == ' ' {
		n++
	}
	if n > 3 {
		return -1
	}
	return n
}

// stripQuotes removes up to max (all when max < 0) block quote markers
// ("> ") from the start of a line and returns the rest and how many it removed.
func stripQuotes(line string, max int) (string, int) {
	depth := 0
	for max < 0 || depth < max {
		i := indent(line)
		if i < 0 || i >= len(line) || line[i] != '>' {
			break
		}
		line = line[i+1:]
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			line = line[1:]
		}
		depth++
	}
	return line, depth
}

// fenceOpen recognises a code fence opening line (``` or ~~~, info string allowed).
func fenceOpen(s string) (ch byte, n int, ok bool) {
	i := indent(s)
	if i < 0 || i >= len(s) || (s[i] != '`' && s[i] != '~') {
		return 0, 0, false
	}
	ch = s[i]
	j := i
	for j < len(s) && s[j] == ch {
		j++
	}
	n = j - i
	if n < 3 || (ch == '`' && strings.IndexByte(s[j:], '`') >= 0) {
		return 0, 0, false
	}
	return ch, n, true
}

// isFenceClose recognises the line closing a fence of n characters ch.
func isFenceClose(s string, ch byte, n int) bool {
	i := indent(s)
	if i < 0 {
		return false
	}
	j := i
	for j < len(s) && s[j] == ch {
		j++
	}
	return j-i >= n && strings.TrimSpace(s[j:]) == ""
}

// isSetextUnderline recognises "===" or "---" under a paragraph line.
func isSetextUnderline(s string) bool {
	i := indent(s)
	if i < 0 || i >= len(s) || (s[i] != '=' && s[i] != '-') {
		return false
	}
	ch, j := s[i], i
	for j < len(s) && s[j] == ch {
		j++
	}
	return strings.TrimSpace(s[j:]) == ""
}

// isThematicBreak recognises ***, --- or ___ (spaces allowed between).
func isThematicBreak(s string) bool {
	i := indent(s)
	if i < 0 || i >= len(s) || (s[i] != '*' && s[i] != '-' && s[i] != '_') {
		return false
	}
	ch, n := s[i], 0
	for ; i < len(s); i++ {
		switch s[i] {
		case ch:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// atxHeading recognises "# Heading" (1–6 #) and returns its text.
func atxHeading(s string) (string, bool) {
	i := indent(s)
	if i < 0 {
		return "", false
	}
	j := i
	for j < len(s) && s[j] == '#' {
		j++
	}
	if n := j - i; n == 0 || n > 6 || (j < len(s) && s[j] != ' ' && s[j] != '\t') {
		return "", false
	}
	h := strings.TrimSpace(s[j:])
	// An optional closing sequence of #s, preceded by a space.
	k := len(h)
	for k > 0 && h[k-1] == '#' {
		k--
	}
	if k == 0 {
		h = ""
	} else if k < len(h) && (h[k-1] == ' ' || h[k-1] == '\t') {
		h = strings.TrimSpace(h[:k])
	}
	return h, true
}

// listItem recognises a bullet ("- ", "* ", "+ ") or ordered ("1. ", "1) ")
// list item at any indentation and returns its marker as flowbot writes it
// ("- " or "1. ") and the item's text.
func listItem(s string) (marker, rest string, ok bool) {
	t := strings.TrimLeft(s, " \t")
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && (t[1] == ' ' || t[1] == '\t') {
		return "- ", strings.TrimLeft(t[2:], " \t"), true
	}
	j := 0
	for j < len(t) && j < 9 && t[j] >= '0' && t[j] <= '9' {
		j++
	}
	if j > 0 && j+1 < len(t) && (t[j] == '.' || t[j] == ')') && (t[j+1] == ' ' || t[j+1] == '\t') {
		return t[:j+1] + " ", strings.TrimLeft(t[j+2:], " \t"), true
	}
	return "", "", false
}

// ---- inline syntax ----

type nodeKind uint8

const (
	nText  nodeKind = iota
	nDelim          // a run of *, _ or ~~ that may open or close emphasis
	nCode           // a code span: s is its content, n its backtick count
	nLink           // s is the URL; children are the link text (none for <autolinks>)
	nEmph           // ch is '*' (bold), '_' (italic) or '~' (strike); children are the text
)

// node is one inline element; nodes live in one slice and link by index.
type node struct {
	kind             nodeKind
	s                string
	ch               byte
	n, orig          int
	canOpen, canClos bool
	dead             bool  // removed from the delimiter list
	prev, next       int32 // siblings
	child, last      int32 // first and last child
	dprev, dnext     int32 // delimiter list (nDelim only)
}

// inlineParser parses one paragraph, heading or list item.
type inlineParser struct {
	src      string
	nodes    []node
	brackets []int32 // for each '[' offset, the offset of its matching ']' (or -1)
	ticks    []int32 // for each backtick run start, the start of the next run of equal length (or -1)
}

const maxLinkDepth = 8

// inline converts the inline markup of s for the converter's channel.
func (c *mdConverter) inline(s string) string {
	if !strings.ContainsAny(s, "*_~`[<\\!") {
		return s // nothing to convert: the common case
	}
	p := inlineParser{src: s}
	p.prepare()
	first := p.parse(0, len(s), 0)
	var b strings.Builder
	b.Grow(len(s))
	p.render(&b, first, c.md, c.plain)
	return b.String()
}

// prepare matches brackets and backtick runs in one pass each, so that
// parsing stays linear in the length of the text.
func (p *inlineParser) prepare() {
	s := p.src
	p.brackets = make([]int32, len(s))
	p.ticks = make([]int32, len(s))
	var stack []int32
	specials := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '_', '~', '`', '<', '!':
			specials++
		case '\\':
			specials++
			i++
		case '[':
			specials++
			p.brackets[i] = -1
			stack = append(stack, int32(i))
		case ']':
			if len(stack) > 0 {
				p.brackets[stack[len(stack)-1]] = int32(i)
				stack = stack[:len(stack)-1]
			}
		}
	}
	// Each special character starts at most one node and the text after it.
	p.nodes = make([]node, 0, 2*specials+2)
	// Backtick runs, right to left: lastOfLen remembers the nearest run of
	// each length seen so far.
	lastOfLen := map[int]int32{}
	for i := len(s) - 1; i >= 0; {
		if s[i] != '`' {
			i--
			continue
		}
		j := i
		for j > 0 && s[j-1] == '`' {
			j--
		}
		n := i - j + 1
		if k, ok := lastOfLen[n]; ok {
			p.ticks[j] = k
		} else {
			p.ticks[j] = -1
		}
		lastOfLen[n] = int32(j)
		i = j - 1
	}
}

func (p *inlineParser) add(n node) int32 {
	n.prev, n.next, n.child, n.last, n.dprev, n.dnext = -1, -1, -1, -1, -1, -1
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

// parse parses src[lo:hi] into a sibling list, resolves its emphasis and
// returns the index of its first node, an empty text node.
func (p *inlineParser) parse(lo, hi, depth int) int32 {
	s := p.src
	first, last := int32(-1), int32(-1)
	firstDelim, lastDelim := int32(-1), int32(-1)
	appendNode := func(n node) int32 {
		k := p.add(n)
		if last >= 0 {
			p.nodes[last].next = k
			p.nodes[k].prev = last
		} else {
			first = k
		}
		last = k
		if n.kind == nDelim {
			if lastDelim >= 0 {
				p.nodes[lastDelim].dnext = k
				p.nodes[k].dprev = lastDelim
			} else {
				firstDelim = k
			}
			lastDelim = k
		}
		return k
	}
	appendNode(node{kind: nText}) // a head that emphasis never removes
	textStart := lo
	flush := func(upto int) {
		if upto > textStart {
			appendNode(node{kind: nText, s: s[textStart:upto]})
		}
	}
	for i := lo; i < hi; {
		switch ch := s[i]; ch {
		case '\\':
			if i+1 < hi && (s[i+1] == '\n' || isASCIIPunct(s[i+1])) {
				flush(i)
				appendNode(node{kind: nText, s: s[i+1 : i+2]})
				i += 2
				textStart = i
				continue
			}
		case '`':
			j := i
			for j < hi && s[j] == '`' {
				j++
			}
			n := j - i
			if k := int(p.ticks[i]); k > i && k+n <= hi {
				flush(i)
				appendNode(node{kind: nCode, s: codeContent(s[j:k]), n: n})
				i = k + n
				textStart = i
				continue
			}
			i = j
			continue
		case '*', '_', '~':
			j := i
			for j < hi && s[j] == ch {
				j++
			}
			open, clos := flanking(s, lo, hi, i, j, ch)
			flush(i)
			appendNode(node{kind: nDelim, ch: ch, n: j - i, orig: j - i, canOpen: open, canClos: clos})
			i = j
			textStart = i
			continue
		case '[', '!':
			b := i
			if ch == '!' {
				if i+1 >= hi || s[i+1] != '[' {
					break
				}
				b = i + 1
			}
			if depth < maxLinkDepth {
				if url, end, ok := p.linkAt(b, hi); ok {
					flush(i)
					k := appendNode(node{kind: nLink, s: url})
					kids := p.parse(b+1, int(p.brackets[b]), depth+1)
					p.setChildren(k, kids)
					i = end
					textStart = i
					continue
				}
			}
		case '<':
			if url, end, ok := autolinkAt(s, i, hi); ok {
				flush(i)
				appendNode(node{kind: nLink, s: url})
				i = end
				textStart = i
				continue
			}
		}
		i++
	}
	flush(hi)
	p.emphasis(firstDelim)
	return first
}

func (p *inlineParser) setChildren(parent, first int32) {
	p.nodes[parent].child = first
	k := first
	for k >= 0 && p.nodes[k].next >= 0 {
		k = p.nodes[k].next
	}
	p.nodes[parent].last = k
}

// codeContent strips one leading and trailing space from a code span's
// content when both are present and it is not all spaces (CommonMark).
func codeContent(s string) string {
	if len(s) >= 2 && s[0] == ' ' && s[len(s)-1] == ' ' && strings.Trim(s, " ") != "" {
		return s[1 : len(s)-1]
	}
	return s
}

// linkAt parses "[text](url "title")" whose '[' is at b; it returns the URL
// and the offset after the closing parenthesis.
func (p *inlineParser) linkAt(b, hi int) (url string, end int, ok bool) {
	s := p.src
	e := int(p.brackets[b])
	if e <= b || e >= hi || e+1 >= hi || s[e+1] != '(' {
		return "", 0, false
	}
	i := e + 2
	for i < hi && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	start := i
	if i < hi && s[i] == '<' {
		j := strings.IndexAny(s[i+1:hi], "<>\n")
		if j < 0 || s[i+1+j] != '>' {
			return "", 0, false
		}
		url = s[i+1 : i+1+j]
		i = i + 2 + j
	} else {
		depth := 0
	dest:
		for ; i < hi; i++ {
			switch s[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				if depth == 0 {
					break dest
				}
				depth--
			case ' ', '\t', '\n', '[', ']', '<':
				break dest
			}
		}
		if i > hi {
			return "", 0, false
		}
		url = s[start:i]
	}
	for i < hi && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	if i < hi && (s[i] == '"' || s[i] == '\'' || s[i] == '(') && i > start {
		closer := s[i]
		if closer == '(' {
			closer = ')'
		}
		j := strings.IndexByte(s[i+1:hi], closer)
		if j < 0 {
			return "", 0, false
		}
		i = i + 2 + j
		for i < hi && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
	}
	if i >= hi || s[i] != ')' {
		return "", 0, false
	}
	return url, i + 1, true
}

// autolinkAt parses "<scheme:…>" or "<user@host>" at i.
func autolinkAt(s string, i, hi int) (url string, end int, ok bool) {
	j := i + 1
	for j < hi && s[j] != '>' && s[j] != '<' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' {
		j++
	}
	if j >= hi || s[j] != '>' || j == i+1 {
		return "", 0, false
	}
	u := s[i+1 : j]
	if k := strings.IndexByte(u, ':'); k >= 2 && k <= 32 && isScheme(u[:k]) {
		return u, j + 1, true
	}
	if at := strings.IndexByte(u, '@'); at > 0 && at < len(u)-1 && strings.IndexByte(u[at+1:], '.') > 0 {
		return u, j + 1, true
	}
	return "", 0, false
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// flanking applies CommonMark's rules to the delimiter run s[i:j] of ch
// within src[lo:hi] and says whether it can open and close emphasis. A run
// of tildes counts only when it is exactly "~~".
func flanking(s string, lo, hi, i, j int, ch byte) (open, clos bool) {
	if ch == '~' && j-i != 2 {
		return false, false
	}
	prev, next := ' ', ' '
	if i > lo {
		prev, _ = utf8.DecodeLastRuneInString(s[lo:i])
	}
	if j < hi {
		next, _ = utf8.DecodeRuneInString(s[j:hi])
	}
	prevSpace, nextSpace := unicode.IsSpace(prev), unicode.IsSpace(next)
	prevPunct, nextPunct := isPunct(prev), isPunct(next)
	left := !nextSpace && (!nextPunct || prevSpace || prevPunct)
	right := !prevSpace && (!prevPunct || nextSpace || nextPunct)
	if ch == '_' {
		return left && (!right || prevPunct), right && (!left || nextPunct)
	}
	return left, right
}

func isPunct(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }

// emphasis matches the delimiter runs of one sibling list (CommonMark's
// "process emphasis", with openers_bottom so that it stays linear) and
// wraps the matched ranges in nEmph nodes.
func (p *inlineParser) emphasis(firstDelim int32) {
	var bottom [13]int32 // per kind of closer: the delimiter below which no opener matched
	for k := range bottom {
		bottom[k] = -2 // not set: search to the list's start
	}
	for c := firstDelim; c >= 0; {
		cn := &p.nodes[c]
		if !cn.canClos || cn.dead {
			c = cn.dnext
			continue
		}
		key := bottomKey(cn)
		found := int32(-1)
		for o := cn.dprev; o >= 0 && o != bottom[key]; o = p.nodes[o].dprev {
			on := &p.nodes[o]
			if on.dead || on.ch != cn.ch || !on.canOpen || on.n == 0 {
				continue
			}
			if cn.ch != '~' && (on.canClos || cn.canOpen) &&
				(on.orig+cn.orig)%3 == 0 && !(on.orig%3 == 0 && cn.orig%3 == 0) {
				continue
			}
			found = o
			break
		}
		if found < 0 {
			bottom[key] = cn.dprev
			next := cn.dnext
			if !cn.canOpen {
				p.removeDelim(c)
			}
			c = next
			continue
		}
		o := found
		on := &p.nodes[o]
		use := 1
		kind := byte('_')
		switch {
		case cn.ch == '~':
			use, kind = 2, '~'
		case on.n >= 2 && cn.n >= 2:
			use, kind = 2, '*'
		}
		// Remove the delimiters between opener and closer from the list.
		for d := on.dnext; d >= 0 && d != c; {
			next := p.nodes[d].dnext
			p.removeDelim(d)
			d = next
		}
		// Wrap the nodes between opener and closer in an emphasis node.
		e := p.add(node{kind: nEmph, ch: kind})
		on, cn = &p.nodes[o], &p.nodes[c] // p.add may have moved the slice
		if f := on.next; f != c {
			l := cn.prev
			p.nodes[f].prev, p.nodes[l].next = -1, -1
			p.nodes[e].child, p.nodes[e].last = f, l
		}
		p.nodes[e].prev, p.nodes[e].next = o, c
		on.next, cn.prev = e, e
		on.n -= use
		cn.n -= use
		if on.n == 0 {
			p.removeDelim(o)
			p.unlink(o)
		}
		if cn.n == 0 {
			next := cn.dnext
			p.removeDelim(c)
			p.unlink(c)
			c = next
		}
	}
}

// bottomKey indexes openers_bottom by the closer's character, whether it
// can also open, and its original length modulo 3.
func bottomKey(n *node) int {
	switch n.ch {
	case '~':
		return 12
	case '_':
		return 6 + boolInt(n.canOpen)*3 + n.orig%3
	}
	return boolInt(n.canOpen)*3 + n.orig%3
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// removeDelim takes a delimiter out of the delimiter list; its node stays
// in the sibling list and is rendered as literal characters.
func (p *inlineParser) removeDelim(k int32) {
	n := &p.nodes[k]
	if n.dead {
		return
	}
	if n.dprev >= 0 {
		p.nodes[n.dprev].dnext = n.dnext
	}
	if n.dnext >= 0 {
		p.nodes[n.dnext].dprev = n.dprev
	}
	n.dead = true
}

// unlink takes a node out of its sibling list.
func (p *inlineParser) unlink(k int32) {
	n := &p.nodes[k]
	if n.prev >= 0 {
		p.nodes[n.prev].next = n.next
	}
	if n.next >= 0 {
		p.nodes[n.next].prev = n.prev
	}
	n.prev, n.next = -1, -1
}

// render writes a sibling list in the channel's syntax.
func (p *inlineParser) render(b *strings.Builder, k int32, md *Markdown, plain bool) {
	for ; k >= 0; k = p.nodes[k].next {
		n := &p.nodes[k]
		switch n.kind {
		case nText:
			b.WriteString(n.s)
		case nDelim:
			// Unmatched (or partly matched) delimiters are literal text;
			// plain text drops doubled ones, which are markup left over.
			if n.n > 0 && !(plain && n.n >= 2) {
				for range n.n {
					b.WriteByte(n.ch)
				}
			}
		case nCode:
			if md.InlineCode {
				ticks := strings.Repeat("`", n.n)
				b.WriteString(ticks)
				if strings.HasPrefix(n.s, "`") || strings.HasSuffix(n.s, "`") {
					b.WriteByte(' ')
					b.WriteString(n.s)
					b.WriteByte(' ')
				} else {
					b.WriteString(n.s)
				}
				b.WriteString(ticks)
			} else {
				b.WriteString(n.s)
			}
		case nEmph:
			m := md.Bold
			switch n.ch {
			case '_':
				m = md.Italic
			case '~':
				m = md.Strike
			}
			b.WriteString(m)
			p.render(b, n.child, md, plain)
			b.WriteString(m)
		case nLink:
			if n.child < 0 {
				b.WriteString(n.s) // an autolink, or a link with empty text
				continue
			}
			var t strings.Builder
			p.render(&t, n.child, md, plain)
			text := t.String()
			switch {
			case n.s == "":
				b.WriteString(text)
			case text == n.s || strings.TrimSpace(text) == "":
				b.WriteString(n.s)
			case md.Hyperlink:
				b.WriteByte('[')
				b.WriteString(text)
				b.WriteString("](")
				b.WriteString(n.s)
				b.WriteByte(')')
			default:
				b.WriteString(text)
				b.WriteString(" (")
				b.WriteString(n.s)
				b.WriteByte(')')
			}
		}
	}
}

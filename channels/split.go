package channels

import (
	"unicode"
	"unicode/utf8"
)

// SplitBody splits text into chunks of at most max runes each, cutting at
// the best boundary within the first max runes: the last paragraph break (a
// blank line), else the last line break — either only if the chunk before
// it holds at least half of max runes, so that chunks are not needlessly
// short — else the last end of a sentence (. ! ? … : ; possibly followed
// by closing quotes or brackets, or any paragraph or line break), else the
// last space between words. A word is cut only when it alone is longer than
// max (then at a rune boundary). Text written without spaces is also cut
// after a CJK full stop (。！？).
//
// Nothing is lost but the whitespace at each cut: every chunk is a
// substring of text, and text is the chunks joined by the whitespace that
// was removed (plus any whitespace that led the text before a first cut).
// Text of at most max runes, or max < 1, gives []string{text}.
func SplitBody(text string, max int) []string {
	if max < 1 || len(text) <= max || utf8.RuneCountInString(text) <= max {
		return []string{text}
	}
	var out []string
	rest := text
	for {
		if len(rest) <= max || utf8.RuneCountInString(rest) <= max {
			if rest != "" {
				out = append(out, rest)
			}
			return out
		}
		end := runeOffset(rest, max)
		a, b := cutPoint(rest, end, max)
		if a > 0 {
			out = append(out, rest[:a])
		}
		rest = rest[b:]
	}
}

// runeOffset returns the byte offset of the n-th rune of s (len(s) if s is shorter).
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// Boundary levels, best first. A boundary also counts for every level after
// its own (a paragraph break is a sentence and word boundary too).
const (
	lvlParagraph = iota
	lvlLine
	lvlSentence
	lvlWord
	nLevels
)

// cutPoint finds where to cut s, whose first max runes end at byte end: the
// chunk is s[:a] and the next one starts at s[b:] (s[a:b] is whitespace).
func cutPoint(s string, end, max int) (a, b int) {
	var at, next, runes [nLevels]int
	for l := range at {
		at[l] = -1
	}
	record := func(level, a, b, r int) {
		for l := level; l < nLevels; l++ {
			at[l], next[l], runes[l] = a, b, r
		}
	}
	n := 0 // runes before i
	for i := 0; i <= end && i < len(s); {
		r, w := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[i:])
		}
		if isSpace(r) {
			// A whitespace run starting within the window (or right after it).
			j, nl, k := i, 0, 0
			for j < len(s) {
				r2, w2 := utf8.DecodeRuneInString(s[j:])
				if !isSpace(r2) {
					break
				}
				if r2 == '\n' {
					nl++
				}
				j += w2
				k++
			}
			level := lvlWord
			switch {
			case nl >= 2:
				level = lvlParagraph
			case nl == 1:
				level = lvlLine
			case endsSentence(s[:i]):
				level = lvlSentence
			}
			record(level, i, j, n)
			i, n = j, n+k
			continue
		}
		if i == end {
			break
		}
		i += w
		n++
		if isCJKStop(r) && i < len(s) && i <= end {
			if r2, _ := utf8.DecodeRuneInString(s[i:]); !isSpace(r2) {
				record(lvlSentence, i, i, n)
			}
		}
	}
	// A paragraph or line break wins if it leaves a chunk of at least half
	// the window; otherwise the last sentence end, else the last space.
	half := max / 2
	for l := lvlParagraph; l <= lvlLine; l++ {
		if at[l] >= 0 && runes[l] >= half {
			return at[l], next[l]
		}
	}
	for l := lvlSentence; l <= lvlWord; l++ {
		if at[l] >= 0 {
			return at[l], next[l]
		}
	}
	return end, end // a single word longer than max
}

// endsSentence reports whether s ends with sentence punctuation, possibly
// followed by closing quotes, brackets or emphasis markers.
func endsSentence(s string) bool {
	for k := 0; k < 4 && s != ""; k++ {
		r, w := utf8.DecodeLastRuneInString(s)
		switch r {
		case '.', '!', '?', '…', '。', '！', '？', ':', ';':
			return true
		case '"', '\'', ')', ']', '”', '’', '»', '*', '_', '~':
			s = s[:len(s)-w]
			continue
		}
		return false
	}
	return false
}

// isCJKStop reports whether r ends a sentence in scripts written without spaces.
func isCJKStop(r rune) bool {
	return r == '。' || r == '！' || r == '？'
}

// isSpace is unicode.IsSpace with a fast path for ASCII.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.IsSpace(r)
}

package channels

import (
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSplitBodySmall(t *testing.T) {
	tests := []struct {
		name string
		text string
		max  int
		want []string
	}{
		{"fits", "Hello world.", 12, []string{"Hello world."}},
		{"empty", "", 5, []string{""}},
		{"no limit", "Hello world.", 0, []string{"Hello world."}},
		{"sentence", "Hello world. How are you?", 15, []string{"Hello world.", "How are you?"}},
		{"word", "aaa bbb ccc ddd", 8, []string{"aaa bbb", "ccc ddd"}},
		{"word exactly max", "aaaaaaaa bbb", 8, []string{"aaaaaaaa", "bbb"}},
		{"paragraph before sentence", "One. Two.\n\nThree four five.", 20, []string{"One. Two.", "Three four five."}},
		{"line before sentence", "One. Two three\nfour five six.", 20, []string{"One. Two three", "four five six."}},
		{"sentence before word", "Aa bb. Cc dd ee ff gg", 14, []string{"Aa bb.", "Cc dd ee ff gg"}},
		{"late paragraph", "Aa bb. Cc dd\n\nee ff gg hh", 16, []string{"Aa bb. Cc dd", "ee ff gg hh"}},
		{"early paragraph loses to late sentence", "Hi.\n\nThis is long. And more words here", 30,
			[]string{"Hi.\n\nThis is long.", "And more words here"}},
		{"long word", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"long word after words", "ab cdefghijkl", 4, []string{"ab", "cdef", "ghij", "kl"}},
		{"multibyte", "äöü äöü äöü", 7, []string{"äöü äöü", "äöü"}},
		{"multibyte long word", "äöüäöüäöü", 4, []string{"äöüä", "öüäö", "ü"}},
		{"emoji", "👍👍 👍👍 👍👍", 5, []string{"👍👍 👍👍", "👍👍"}},
		{"cjk full stop", "今天天气很好。我们去公园吧。好的", 8, []string{"今天天气很好。", "我们去公园吧。", "好的"}},
		{"quote after stop", `He said "Stop." Then left quietly`, 18, []string{`He said "Stop."`, "Then left quietly"}},
		{"leading whitespace", "     abc", 3, []string{"abc"}},
		{"whitespace run at cut", "aaa   \n\n  bbb", 5, []string{"aaa", "bbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitBody(tt.text, tt.max)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitBody(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
			}
			checkSplit(t, tt.text, tt.max, got)
		})
	}
}

func TestSplitBodyMaxBody(t *testing.T) {
	exact := strings.Repeat("abcd ", MaxBody/5-1) + "abcde" // 5000 runes
	if utf8.RuneCountInString(exact) != MaxBody {
		t.Fatal("setup")
	}
	if got := SplitBody(exact, MaxBody); len(got) != 1 || got[0] != exact {
		t.Errorf("exactly %d runes split into %d chunks", MaxBody, len(got))
	}
	over := exact + "x" // 5001 runes, the last word now "abcdex"
	got := SplitBody(over, MaxBody)
	if len(got) != 2 || got[1] != "abcdex" {
		t.Errorf("5001 runes: %d chunks, last %q", len(got), got[len(got)-1])
	}
	checkSplit(t, over, MaxBody, got)

	word := strings.Repeat("x", 6000)
	got = SplitBody(word, MaxBody)
	if len(got) != 2 || len(got[0]) != 5000 || len(got[1]) != 1000 {
		t.Errorf("a 6000-character word: chunks of %d", lens(got))
	}
	checkSplit(t, word, MaxBody, got)

	wide := strings.Repeat("ü", 6000) // 2 bytes per rune
	got = SplitBody(wide, MaxBody)
	if len(got) != 2 || utf8.RuneCountInString(got[0]) != 5000 || !utf8.ValidString(got[0]) || !utf8.ValidString(got[1]) {
		t.Errorf("6000 two-byte runes: rune counts %d", lens(got))
	}

	paras := strings.Repeat("x", 3000) + "\n\n" + strings.Repeat("y", 3000)
	got = SplitBody(paras, MaxBody)
	if len(got) != 2 || got[0] != strings.Repeat("x", 3000) || got[1] != strings.Repeat("y", 3000) {
		t.Errorf("two paragraphs: %d", lens(got))
	}

	sentences := strings.Repeat("This is one sentence of the text. ", 200)
	got = SplitBody(sentences, MaxBody)
	for _, c := range got[:len(got)-1] {
		if !strings.HasSuffix(c, ".") {
			t.Errorf("chunk does not end a sentence: …%q", c[len(c)-20:])
		}
	}
	checkSplit(t, sentences, MaxBody, got)
}

func lens(chunks []string) []int {
	n := make([]int, len(chunks))
	for i, c := range chunks {
		n[i] = utf8.RuneCountInString(c)
	}
	return n
}

// checkSplit checks SplitBody's promises: no chunk over max runes, no empty
// chunk, every chunk a piece of text in order with only whitespace between
// them, and a cut inside a word only where the word is longer than max (or
// after a CJK full stop).
func checkSplit(t *testing.T, text string, max int, chunks []string) {
	t.Helper()
	if max < 1 || utf8.RuneCountInString(text) <= max {
		if len(chunks) != 1 || chunks[0] != text {
			t.Fatalf("text within max changed: %q", chunks)
		}
		return
	}
	rest := text
	for i, c := range chunks {
		if c == "" {
			t.Fatalf("chunk %d is empty", i)
		}
		if n := utf8.RuneCountInString(c); n > max {
			t.Fatalf("chunk %d has %d runes > %d", i, n, max)
		}
		trimmed := rest // a first chunk may keep the whitespace leading the text
		if r, _ := utf8.DecodeRuneInString(c); i > 0 || !unicode.IsSpace(r) {
			trimmed = strings.TrimLeftFunc(rest, unicode.IsSpace)
		}
		skipped := len(rest) - len(trimmed)
		if i > 0 && skipped == 0 {
			prev := chunks[i-1]
			r, _ := utf8.DecodeLastRuneInString(prev)
			if !isCJKStop(r) && (utf8.RuneCountInString(prev) != max || strings.IndexFunc(prev, unicode.IsSpace) >= 0) {
				t.Fatalf("cut inside a word between %q and %q", tail(prev), head(c))
			}
		}
		if !strings.HasPrefix(trimmed, c) {
			t.Fatalf("chunk %d %q is not the next piece of the text (%q…)", i, head(c), head(trimmed))
		}
		rest = trimmed[len(c):]
	}
	if strings.TrimSpace(rest) != "" {
		t.Fatalf("text lost at the end: %q", head(rest))
	}
}

func head(s string) string {
	if len(s) > 30 {
		return s[:30]
	}
	return s
}

func tail(s string) string {
	if len(s) > 30 {
		return s[len(s)-30:]
	}
	return s
}

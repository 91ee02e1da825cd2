package flows

import (
	"fmt"
	"sort"
	"strings"
)

// Level is how serious a Lint is.
type Level string

// Lint levels. Errors stop a flow from loading; warnings do not.
const (
	Error   Level = "error"
	Warning Level = "warning"
)

// Lint is one problem found in a flow file.
type Lint struct {
	File   string
	Line   int
	Column int
	Level  Level
	What   string
}

// String formats the lint as "file:line:col: message" (warnings are marked).
func (l Lint) String() string {
	prefix := ""
	if l.Level == Warning {
		prefix = "warning: "
	}
	return fmt.Sprintf("%s:%d:%d: %s%s", l.File, l.Line, l.Column, prefix, l.What)
}

// Lints is a list of problems, in file order.
type Lints []Lint

// Errors returns only the lints of level Error.
func (ls Lints) Errors() Lints {
	var out Lints
	for _, l := range ls {
		if l.Level == Error {
			out = append(out, l)
		}
	}
	return out
}

// HasErrors reports whether any lint is an error.
func (ls Lints) HasErrors() bool { return len(ls.Errors()) > 0 }

// Sort orders lints by file, line and column.
func (ls Lints) Sort() {
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// String joins the lints one per line.
func (ls Lints) String() string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// LoadError is returned when a flow has errors; it carries every lint.
type LoadError struct{ Lints Lints }

func (e *LoadError) Error() string {
	errs := e.Lints.Errors()
	if len(errs) == 1 {
		return errs[0].String()
	}
	return fmt.Sprintf("%d errors:\n%s", len(errs), strings.TrimRight(errs.String(), "\n"))
}

// suggest returns the candidate closest to word, if it is close enough to be
// a plausible typo.
func suggest(word string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	limit := len(word) / 3
	if limit < 2 {
		limit = 2
	}
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

// DidYouMean returns ` (did you mean "x"?)` when one of the candidates is a
// plausible typo of word, else "". Other packages use it for their own
// errors (unknown flow names in the Chat API, …).
func DidYouMean(word string, candidates []string) string { return didYouMean(word, candidates) }

// didYouMean formats a suggestion hint, or returns "" when there is none.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

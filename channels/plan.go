package channels

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

// FormText is the form Plan returns for a choice shown as a numbered text
// list (the fallback text, then "1. Label" lines). The other forms are the
// engine's Form constants: bubbles, button_template, list_template, carousel.
const FormText = "text"

// Plan returns the form Render uses for choice c on the channel: "bubbles",
// "button_template", "list_template", "carousel" or "text" (numbered text).
// reason is empty when the choice is shown as the author asked (or, for
// bubbles, as the channel shows bubbles: WhatsApp and Facebook templates or
// quick replies); otherwise it says why the form fell back, e.g.
// "4 options > 3 for button_template" or
// `label "…" is 21 characters > 20 for button_template and list_template`.
func Plan(c engine.Choice, channelType string) (form string, reason string) {
	lim := limitsOf(channelType)
	form, rejected := plan(&c, lim, true)
	return form, reasonOf(&c, lim, form, rejected)
}

// requested returns the form the author asked for; empty or unknown is bubbles.
func requested(c *engine.Choice) string {
	switch c.Form {
	case engine.FormButtonTemplate, engine.FormListTemplate, engine.FormCarousel:
		return c.Form
	}
	return engine.FormBubbles
}

// candidates returns the clickable forms to try for a request on a channel,
// best first (degrading buttons → list → quick replies); numbered text
// follows them all.
func candidates(req string, lim *Limits) (out [3]string, n int) {
	if lim.AsAuthored {
		out[0] = req
		return out, 1
	}
	add := func(f string) { out[n] = f; n++ }
	switch req {
	case engine.FormBubbles, engine.FormButtonTemplate:
		if lim.ButtonOptions > 0 {
			add(engine.FormButtonTemplate)
		}
		fallthrough
	case engine.FormListTemplate:
		if lim.ListOptions > 0 {
			add(engine.FormListTemplate)
		}
		if lim.QuickReplies > 0 {
			add(engine.FormBubbles)
		}
	case engine.FormCarousel:
		if lim.Carousel {
			add(engine.FormCarousel)
		}
	}
	return out, n
}

// rejection says why a form cannot show a choice; kind 0 means it can.
type rejection struct {
	form  string
	kind  rejectKind
	n     int    // the count or length found
	limit int    // the limit it exceeds
	what  string // the label, option id or description's label concerned
}

type rejectKind uint8

const (
	fits rejectKind = iota
	noOptions
	tooManyOptions
	emptyLabel
	longLabel
	longDescription
	longButtonText
	longHeader
	longFooter
	longBody
	emptyBody
	longID
	duplicateLabel
)

// plan picks the form; with keep it also returns why the better forms were
// rejected (Render passes false and so allocates nothing).
func plan(c *engine.Choice, lim *Limits, keep bool) (string, []rejection) {
	req := requested(c)
	forms, n := candidates(req, lim)
	var rejected []rejection
	for _, f := range forms[:n] {
		r := check(c, f, lim)
		if r.kind == fits {
			return f, rejected
		}
		if keep {
			r.form = f
			rejected = append(rejected, r)
		}
	}
	return FormText, rejected
}

// check tests whether form f can show choice c on a channel with limits lim.
func check(c *engine.Choice, f string, lim *Limits) rejection {
	if lim.AsAuthored {
		return rejection{}
	}
	var maxOptions, maxBody int
	switch f {
	case engine.FormButtonTemplate:
		maxOptions, maxBody = lim.ButtonOptions, lim.ButtonBodyMax
	case engine.FormListTemplate:
		maxOptions, maxBody = lim.ListOptions, lim.ListBodyMax
	case engine.FormBubbles:
		maxOptions, maxBody = lim.QuickReplies, lim.QuickReplyBodyMax
	}
	if len(c.Options) == 0 {
		return rejection{kind: noOptions}
	}
	if len(c.Options) > maxOptions {
		return rejection{kind: tooManyOptions, n: len(c.Options), limit: maxOptions}
	}
	if c.Body == "" && c.Fallback == "" {
		// Meta's templates need a body text (the fallback stands in).
		return rejection{kind: emptyBody}
	}
	for i := range c.Options {
		o := &c.Options[i]
		if o.Label == "" {
			return rejection{kind: emptyLabel, what: o.ID}
		}
		if r := tooLong(o.ID, lim.IDMax, longID); r.kind != fits {
			r.what = o.Label
			return r
		}
		if f == engine.FormButtonTemplate {
			// WhatsApp refuses two reply buttons with one title.
			for j := range c.Options[:i] {
				if strings.EqualFold(c.Options[j].Label, o.Label) {
					return rejection{kind: duplicateLabel, what: o.Label}
				}
			}
		}
		if lim.LabelMax > 0 && len(o.Label) > lim.LabelMax {
			if n := utf8.RuneCountInString(o.Label); n > lim.LabelMax {
				return rejection{kind: longLabel, n: n, limit: lim.LabelMax, what: o.Label}
			}
		}
		if f == engine.FormListTemplate && lim.DescriptionMax > 0 && len(o.Description) > lim.DescriptionMax {
			if n := utf8.RuneCountInString(o.Description); n > lim.DescriptionMax {
				return rejection{kind: longDescription, n: n, limit: lim.DescriptionMax, what: o.Label}
			}
		}
	}
	if f == engine.FormListTemplate {
		if r := tooLong(c.Button, lim.ListButtonMax, longButtonText); r.kind != fits {
			return r
		}
	}
	if f == engine.FormButtonTemplate || f == engine.FormListTemplate {
		if _, media := HeaderMediaType(c.Header); !media {
			if r := tooLong(c.Header, lim.HeaderMax, longHeader); r.kind != fits {
				return r
			}
		}
		if r := tooLong(c.Footer, lim.FooterMax, longFooter); r.kind != fits {
			return r
		}
	}
	return tooLong(c.Body, maxBody, longBody)
}

// tooLong rejects s when it has more than max runes (max 0: unchecked).
func tooLong(s string, max int, kind rejectKind) rejection {
	if max > 0 && len(s) > max {
		if n := utf8.RuneCountInString(s); n > max {
			return rejection{kind: kind, n: n, limit: max}
		}
	}
	return rejection{}
}

// why says in words what a rejection found.
func (r rejection) why() string {
	switch r.kind {
	case noOptions:
		return "no options"
	case tooManyOptions:
		return fmt.Sprintf("%d options > %d", r.n, r.limit)
	case emptyLabel:
		return fmt.Sprintf("option %q has an empty label", r.what)
	case longLabel:
		return fmt.Sprintf("label %q is %d characters > %d", r.what, r.n, r.limit)
	case longDescription:
		return fmt.Sprintf("description of %q is %d characters > %d", r.what, r.n, r.limit)
	case longButtonText:
		return fmt.Sprintf("button text is %d characters > %d", r.n, r.limit)
	case longHeader:
		return fmt.Sprintf("header is %d characters > %d", r.n, r.limit)
	case longFooter:
		return fmt.Sprintf("footer is %d characters > %d", r.n, r.limit)
	case longBody:
		return fmt.Sprintf("body is %d characters > %d", r.n, r.limit)
	case emptyBody:
		return "no body and no fallback"
	case longID:
		return fmt.Sprintf("id of %q is %d characters > %d", r.what, r.n, r.limit)
	case duplicateLabel:
		return fmt.Sprintf("label %q appears twice", r.what)
	}
	return ""
}

// reasonOf explains a fallback: empty when form is what the author asked for
// (for bubbles: any clickable form), otherwise the channel's missing form
// and every rejection, identical findings merged ("… for button_template and
// list_template").
func reasonOf(c *engine.Choice, lim *Limits, form string, rejected []rejection) string {
	req := requested(c)
	if form == req || (req == engine.FormBubbles && form != FormText) {
		return ""
	}
	var parts []string
	if !lim.Clickable() {
		return lim.Channel + " shows no clickable choices"
	}
	if forms, n := candidates(req, lim); req != engine.FormBubbles && (n == 0 || forms[0] != req) {
		if req == engine.FormCarousel {
			parts = append(parts, "carousel is clickable only on web")
		} else {
			parts = append(parts, req+" is not available on "+lim.Channel)
		}
	}
	// Merge identical findings, keeping their first order.
	type group struct {
		why   string
		forms []string
	}
	var groups []group
next:
	for _, r := range rejected {
		w := r.why()
		for i := range groups {
			if groups[i].why == w {
				groups[i].forms = append(groups[i].forms, r.form)
				continue next
			}
		}
		groups = append(groups, group{why: w, forms: []string{r.form}})
	}
	for _, g := range groups {
		parts = append(parts, g.why+" for "+strings.Join(g.forms, " and "))
	}
	if form != FormText && len(parts) > 0 {
		// Degraded to another clickable form: say which.
		parts[len(parts)-1] += "; shown as " + shownAs(form, lim)
	}
	return strings.Join(parts, "; ")
}

// shownAs names a form as the channel shows it.
func shownAs(form string, lim *Limits) string {
	if form == engine.FormBubbles && !lim.AsAuthored {
		return "quick replies (bubbles)"
	}
	return form
}

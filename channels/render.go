package channels

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flowbot/flowbot/engine"
)

// The names of the Userlike packets Render produces itself. Platform
// actions (engine.ActPlatform) keep their own names (contact_update, …).
const (
	PacketMessage        = "message"
	PacketBubbles        = "bubbles"
	PacketButtonTemplate = "button_template"
	PacketListTemplate   = "list_template"
	PacketCarousel       = "carousel"
	PacketMedia          = "media"
	PacketButtons        = "buttons"
	PacketNavigate       = "navigate"
	PacketDelay          = "delay"
)

// Packet is one Userlike triggerable event: the packet name and its payload,
// ready to JSON-encode. Render's payloads are the *Payload types of this
// package (values, not pointers); a platform action's payload is its map,
// or an empty struct (encoded {}) when it has none.
type Packet struct {
	Name    string `json:"name"`
	Payload any    `json:"payload"`
	// Action is the index, in the actions given to Render, of the action
	// that produced the packet (an adapter that shows more than the
	// packets, such as a dialect reply, reads the action). It is not sent.
	Action int `json:"-"`
}

// Rendered is what Render produces.
type Rendered struct {
	// Packets are the events to send, in order.
	Packets []Packet
	// Numbered: the last choice in the actions was shown as a numbered text
	// list, so a reply of exactly "2" is a click on its second option.
	Numbered bool
}

// MessagePayload is the payload of a message packet.
type MessagePayload struct {
	Body       string `json:"body"`
	TextFormat string `json:"text_format,omitempty"` // "markdown_v1" or empty
}

// ChoicePayload is the payload of a bubbles, button_template, list_template
// or carousel packet. Fallback is always sent (Userlike requires it); Header
// and Footer only on templates where the channel shows them, HeaderMedia
// only on button templates, Button (never empty) only on list templates.
type ChoicePayload struct {
	Body        string          `json:"body"`
	Fallback    string          `json:"fallback"`
	Header      string          `json:"header,omitempty"`
	HeaderMedia *HeaderMedia    `json:"header_media,omitempty"`
	Footer      string          `json:"footer,omitempty"`
	Button      string          `json:"button,omitempty"`
	Options     []OptionPayload `json:"options"`
}

// HeaderMedia is a template header that is an image, a video or a
// document (a choice's header given as a URL, see HeaderMediaType).
type HeaderMedia struct {
	Type string `json:"type"` // image, video or document
	Link string `json:"link"`
}

// OptionPayload is one option of a choice packet. Description is sent only
// in list templates and carousels, Image only in carousels.
type OptionPayload struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	Image       string `json:"image,omitempty"`
}

// MediaPayload is the payload of a media packet.
type MediaPayload struct {
	Type    string `json:"type"` // image, video, audio or file
	Link    string `json:"link"`
	Caption string `json:"caption,omitempty"`
}

// ButtonsPayload is the payload of a buttons packet (URL buttons; web only).
type ButtonsPayload struct {
	Body    string             `json:"body"`
	Buttons []URLButtonPayload `json:"buttons"`
}

// URLButtonPayload is one button of a buttons packet.
type URLButtonPayload struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// NavigatePayload is the payload of a navigate packet (web only).
type NavigatePayload struct {
	URL string `json:"url"`
}

// DelayPayload is the payload of a delay packet.
type DelayPayload struct {
	Seconds float64 `json:"seconds"`
}

// emptyObject is the payload of a platform action given none: it encodes as {}.
var emptyObject = struct{}{}

// Render turns a step's actions into the packets the channel can show
// (channelType as Userlike names it; anything unknown is "custom"). See the
// package documentation and docs/channels.md for the rules; in short:
//
//   - text: markdown converted by ConvertMarkdown, split by SplitBody into
//     messages of at most MaxBody characters;
//   - choice: the form Plan picks, or a numbered text message (the
//     fallback, else the body, then "1. Label" lines; carousels add
//     " — <image URL>"), in which case Rendered.Numbered is set;
//   - media: a media packet, or on SMS a message "caption\nlink";
//   - URL buttons: a buttons packet on web, else a message with the body
//     and one "Label: URL" line per button;
//   - navigate: a navigate packet on web, else a message with the URL;
//   - delay and platform actions: passed through (a nil payload as {}).
//
// Actions of an unknown kind produce nothing.
func Render(actions []engine.Action, channelType string) Rendered {
	return render(actions, limitsOf(channelType))
}

// RenderText renders for a transport that carries text (and media links)
// only, such as the Chat API of platform mode: the channel's text rules
// (markdown conversion, message length) apply, but every choice is a
// numbered text list (Rendered.Numbered), URL buttons and navigate become
// text, and carousels lose their clickability. Media stay media packets
// when the channel shows media.
func RenderText(actions []engine.Action, channelType string) Rendered {
	lim := *limitsOf(channelType)
	lim.AsAuthored, lim.ButtonOptions, lim.ListOptions, lim.QuickReplies = false, 0, 0, 0
	lim.Carousel, lim.URLButtons, lim.Navigate = false, false, false
	return render(actions, &lim)
}

func render(actions []engine.Action, lim *Limits) Rendered {
	r := renderer{lim: lim}
	r.out.Packets = make([]Packet, 0, len(actions)+1)
	for i := range actions {
		a := &actions[i]
		r.action = i
		switch a.Kind {
		case engine.ActText:
			body, format := a.Text, ""
			if a.Markdown {
				body, format = ConvertMarkdown(a.Text, r.lim.Channel)
			}
			r.messages(body, format)
		case engine.ActChoice:
			if a.Choice != nil {
				r.choice(a.Choice)
			}
		case engine.ActMedia:
			if a.Media != nil {
				r.media(a.Media)
			}
		case engine.ActButtons:
			r.buttons(a.Text, a.Buttons)
		case engine.ActNavigate:
			if r.lim.Navigate {
				r.add(PacketNavigate, NavigatePayload{URL: a.URL})
			} else {
				r.messages(a.URL, "")
			}
		case engine.ActDelay:
			r.add(PacketDelay, DelayPayload{Seconds: a.Seconds})
		case engine.ActPlatform:
			if a.Payload == nil {
				r.add(a.Name, emptyObject)
			} else {
				r.add(a.Name, a.Payload)
			}
		}
	}
	return r.out
}

type renderer struct {
	lim    *Limits
	out    Rendered
	action int // the index of the action being rendered
}

func (r *renderer) add(name string, payload any) {
	r.out.Packets = append(r.out.Packets, Packet{Name: name, Payload: payload, Action: r.action})
}

// fitsIn reports whether s has at most max runes.
func fitsIn(s string, max int) bool {
	return len(s) <= max || utf8.RuneCountInString(s) <= max
}

// messages sends body as one message, or several when it is too long.
func (r *renderer) messages(body, format string) {
	if fitsIn(body, MaxBody) {
		r.add(PacketMessage, MessagePayload{Body: body, TextFormat: format})
		return
	}
	for _, chunk := range SplitBody(body, MaxBody) {
		r.add(PacketMessage, MessagePayload{Body: chunk, TextFormat: format})
	}
}

// lead sends all but the last MaxBody-sized chunk of body as messages and
// returns the last, for a packet whose body must stay short (web choices
// and buttons).
func (r *renderer) lead(body string) string {
	if fitsIn(body, MaxBody) {
		return body
	}
	chunks := SplitBody(body, MaxBody)
	for _, chunk := range chunks[:len(chunks)-1] {
		r.add(PacketMessage, MessagePayload{Body: chunk})
	}
	return chunks[len(chunks)-1]
}

// textWithTail sends head, a newline and tail as plain messages. When they
// do not fit in one message, head is split and tail (an option list, links)
// stays with head's last chunk if it fits there, else follows on its own.
func (r *renderer) textWithTail(head, tail string) {
	switch {
	case head == "":
		r.messages(tail, "")
		return
	case tail == "":
		r.messages(head, "")
		return
	}
	if fitsIn(head, MaxBody) && utf8.RuneCountInString(head)+1+utf8.RuneCountInString(tail) <= MaxBody {
		r.messages(head+"\n"+tail, "")
		return
	}
	chunks := SplitBody(head, MaxBody)
	last := chunks[len(chunks)-1]
	for _, chunk := range chunks[:len(chunks)-1] {
		r.add(PacketMessage, MessagePayload{Body: chunk})
	}
	if utf8.RuneCountInString(last)+1+utf8.RuneCountInString(tail) <= MaxBody {
		r.add(PacketMessage, MessagePayload{Body: last + "\n" + tail})
		return
	}
	r.add(PacketMessage, MessagePayload{Body: last})
	r.messages(tail, "")
}

// choice sends a choice in the form Plan picks for the channel.
func (r *renderer) choice(c *engine.Choice) {
	form, _ := plan(c, r.lim, false)
	if form == FormText {
		r.numbered(c)
		r.out.Numbered = true
		return
	}
	r.out.Numbered = false
	p := ChoicePayload{
		Body:     r.lead(c.Body),
		Fallback: c.Fallback,
		Options:  make([]OptionPayload, len(c.Options)),
	}
	if p.Fallback == "" {
		p.Fallback = c.Body
	}
	if p.Body == "" {
		p.Body = c.Fallback // Meta's templates need a body
	}
	if form == engine.FormButtonTemplate || form == engine.FormListTemplate {
		r.header(&p, c, form)
	}
	if form == engine.FormListTemplate {
		p.Button = c.Button
		if p.Button == "" {
			p.Button = DefaultListButton
		}
	}
	for i := range c.Options {
		o := &c.Options[i]
		p.Options[i] = OptionPayload{ID: o.ID, Label: o.Label}
		if form == engine.FormListTemplate || form == engine.FormCarousel {
			p.Options[i].Description = o.Description
		}
		if form == engine.FormCarousel {
			p.Options[i].Image = o.Image
		}
	}
	r.add(form, p)
}

// header sets a template's header and footer as the channel shows them:
// a text header (footer) where it has a header (footer) limit, or on web;
// a header URL as HeaderMedia on button templates where the channel shows
// its media type. What the channel cannot show is left out.
func (r *renderer) header(p *ChoicePayload, c *engine.Choice, form string) {
	web := r.lim.AsAuthored
	if typ, media := HeaderMediaType(c.Header); media {
		if form == engine.FormButtonTemplate && slices.Contains(strings.Fields(r.lim.HeaderMedia), typ) {
			p.HeaderMedia = &HeaderMedia{Type: typ, Link: c.Header}
		}
	} else if web || r.lim.HeaderMax > 0 {
		p.Header = c.Header
	}
	if web || r.lim.FooterMax > 0 {
		p.Footer = c.Footer
	}
}

// numbered sends a choice as its fallback text (else its body) followed by
// one "1. Label" line per option; a carousel adds " — <image URL>".
func (r *renderer) numbered(c *engine.Choice) {
	head := c.Fallback
	if head == "" {
		head = c.Body
	}
	carousel := c.Form == engine.FormCarousel
	n := len(head) + 1
	for i := range c.Options {
		n += len(c.Options[i].Label) + 6
		if carousel {
			n += len(c.Options[i].Image) + 5
		}
	}
	// Build head, newline and list in one string; the list is its tail.
	var b strings.Builder
	b.Grow(n)
	if head != "" && len(c.Options) > 0 {
		b.WriteString(head)
		b.WriteByte('\n')
	}
	listAt := b.Len()
	for i := range c.Options {
		o := &c.Options[i]
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(i + 1))
		b.WriteString(". ")
		b.WriteString(o.Label)
		if carousel && o.Image != "" {
			b.WriteString(" — ")
			b.WriteString(o.Image)
		}
	}
	full := b.String()
	if len(c.Options) == 0 {
		r.messages(head, "")
		return
	}
	if fitsIn(full, MaxBody) {
		r.add(PacketMessage, MessagePayload{Body: full})
		return
	}
	r.textWithTail(head, full[listAt:])
}

// media sends a media packet, or where the channel shows no media (SMS) the
// caption and the link as text.
func (r *renderer) media(m *engine.Media) {
	if !r.lim.Media {
		r.textWithTail(m.Caption, m.URL)
		return
	}
	typ := m.Type
	if typ == "" {
		typ = "file"
	}
	r.add(PacketMedia, MediaPayload{Type: typ, Link: m.URL, Caption: m.Caption})
}

// buttons sends URL buttons: a buttons packet on web, elsewhere the body and
// one "Label: URL" line per button as text.
func (r *renderer) buttons(body string, buttons []engine.URLButton) {
	if r.lim.URLButtons {
		p := ButtonsPayload{Body: r.lead(body), Buttons: make([]URLButtonPayload, len(buttons))}
		for i, b := range buttons {
			p.Buttons[i] = URLButtonPayload{Label: b.Label, URL: b.URL}
		}
		r.add(PacketButtons, p)
		return
	}
	var b strings.Builder
	for i, btn := range buttons {
		if i > 0 {
			b.WriteByte('\n')
		}
		if btn.Label != "" {
			b.WriteString(btn.Label)
			b.WriteString(": ")
		}
		b.WriteString(btn.URL)
	}
	r.textWithTail(body, b.String())
}

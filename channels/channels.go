// Package channels turns the actions of a flow step into the Userlike
// triggerable events (packets) that the contact's channel can show.
//
// It knows each channel's limits (Table) and decides the form of every
// choice itself — WhatsApp button or list templates, Facebook button
// templates or quick replies, clickable web elements, or a numbered text
// list — so that a flow behaves the same under every protocol adapter and a
// reply of "2" can be read back as a click (Rendered.Numbered). It also splits
// text longer than MaxBody at paragraph, sentence or word boundaries and
// converts markdown to each channel's own syntax.
//
// The package is pure: no I/O, no clock, no HTTP. The same actions and
// channel always give the same packets. docs/channels.md describes the rules.
package channels

import "strings"

// The channel types of Userlike (info.conversation.contact_channel.type).
const (
	Web      = "web"
	WhatsApp = "whatsapp_business"
	Facebook = "facebook"
	Telegram = "telegram"
	Threema  = "threema"
	SMS      = "sms"
	Custom   = "custom"
)

// Types lists every channel type Normalize can return, in a stable order
// (for documentation, validation and tests that walk all channels).
var Types = []string{Web, WhatsApp, Facebook, Telegram, Threema, SMS, Custom}

// MaxBody is the most characters (runes) one Userlike message body may hold.
// Longer text is split into several messages by SplitBody.
const MaxBody = 5000

// Normalize returns the channel type flowbot renders for: one of Types.
// Surrounding spaces and letter case are ignored; an empty or unknown type
// is "custom", as SPEC §5a requires.
func Normalize(channelType string) string {
	switch channelType {
	case Web, WhatsApp, Facebook, Telegram, Threema, SMS, Custom:
		return channelType
	}
	t := strings.ToLower(strings.TrimSpace(channelType))
	switch t {
	case Web, WhatsApp, Facebook, Telegram, Threema, SMS:
		return t
	}
	return Custom
}

// Markdown support levels (Markdown.Level).
const (
	// MarkdownFull: the body is sent unchanged with text_format markdown_v1
	// and the channel shows all of it (web).
	MarkdownFull = "full"
	// MarkdownUnchanged: the body is sent unchanged with text_format
	// markdown_v1; what the receiver makes of it is its business (custom).
	MarkdownUnchanged = "unchanged"
	// MarkdownNative: the body is converted to the app's own syntax and sent
	// as plain text (no text_format).
	MarkdownNative = "native"
	// MarkdownNone: all markdown is stripped (SMS).
	MarkdownNone = "none"
)

// Markdown describes how a channel shows markdown text (Action.Markdown).
type Markdown struct {
	Level  string // one of the Markdown* level constants
	Bold   string // the app's bold marker ("*"); "" when not supported or not converted
	Italic string // the app's italic marker ("_")
	Strike string // the app's strikethrough marker ("~")
	// InlineCode: `code` is kept with its backticks; otherwise the backticks go.
	InlineCode bool
	// CodeBlock: ``` fences are kept; otherwise the fence lines go and the code stays.
	CodeBlock bool
	// Hyperlink: [text](url) is kept; otherwise it becomes "text (url)".
	Hyperlink bool
}

// Limits is one channel's row of the rendering table: what its clients can
// show of each Userlike element. A count or length of 0 means the element is
// not available on the channel (for counts) or not checked (for lengths),
// except on an AsAuthored channel, where no limit applies at all.
type Limits struct {
	Channel string // the channel type
	// AsAuthored: every choice form (bubbles, button_template, list_template,
	// carousel) is sent as the author asked for it (web).
	AsAuthored bool
	// ButtonOptions is the most options a button_template shows as buttons.
	ButtonOptions int
	// ListOptions is the most rows of a list_template.
	ListOptions int
	// QuickReplies is the most options bubbles show as clickable quick replies.
	QuickReplies int
	// LabelMax is the most characters of an option label on a button, list
	// row or quick reply (WhatsApp allows 24 on list rows, but Userlike and
	// flowbot decide with 20).
	LabelMax int
	// DescriptionMax is the most characters of a list row's description.
	DescriptionMax int
	// ListButtonMax is the most characters of the list template's button text.
	ListButtonMax int
	// HeaderMax and FooterMax are the most characters of a template's text
	// header and footer. Outside web a template's text header (footer) is
	// sent only where HeaderMax (FooterMax) is set: Facebook shows none.
	HeaderMax, FooterMax int
	// HeaderMedia are the media types a button template's header may be
	// separated by spaces (a header that is a URL, see HeaderMediaType);
	// other media headers
	// are left out. List templates take text headers only.
	HeaderMedia string
	// IDMax is the most characters of an option id (Meta: a list row id
	// ≤ 200, a reply button id ≤ 256, a Facebook payload ≤ 1,000).
	IDMax int
	// ButtonBodyMax and ListBodyMax are the most characters of a button or
	// list template's body; QuickReplyBodyMax the same for quick replies.
	ButtonBodyMax, ListBodyMax, QuickReplyBodyMax int
	// BodyMax is the most characters of one text message.
	BodyMax int
	// Carousel: carousels are clickable.
	Carousel bool
	// Media: media messages are shown (otherwise the link is sent as text).
	Media bool
	// URLButtons: a buttons packet is shown (otherwise body and links as text).
	URLButtons bool
	// Navigate: a navigate packet opens the URL (otherwise the URL as text).
	Navigate bool
	// Markdown is the channel's markdown support.
	Markdown Markdown
}

// Clickable reports whether any choice can be shown with clickable options
// on the channel; where not, every choice is a numbered text list.
func (l Limits) Clickable() bool {
	return l.AsAuthored || l.ButtonOptions > 0 || l.ListOptions > 0 || l.QuickReplies > 0
}

// Table holds the limits of every channel type in Types, for docs and
// validation to show. It is read-only: Render and Plan use a copy taken when
// the program starts, so changing it changes nothing.
var Table = map[string]Limits{
	Web: {
		Channel: Web, AsAuthored: true, BodyMax: MaxBody, HeaderMedia: "image video document",
		Carousel: true, Media: true, URLButtons: true, Navigate: true,
		Markdown: Markdown{Level: MarkdownFull, Bold: "**", Italic: "*", Strike: "~~",
			InlineCode: true, CodeBlock: true, Hyperlink: true},
	},
	WhatsApp: {
		Channel: WhatsApp, ButtonOptions: 3, ListOptions: 10, LabelMax: 20,
		DescriptionMax: 72, ListButtonMax: 20, HeaderMax: 60, FooterMax: 60, IDMax: 200,
		HeaderMedia:   "image video document",
		ButtonBodyMax: 1024, ListBodyMax: 4096, BodyMax: MaxBody, Media: true,
		Markdown: Markdown{Level: MarkdownNative, Bold: "*", Italic: "_", Strike: "~"},
	},
	Facebook: {
		Channel: Facebook, ButtonOptions: 3, QuickReplies: 13, LabelMax: 20, IDMax: 1000,
		HeaderMedia:   "image",
		ButtonBodyMax: 640, QuickReplyBodyMax: MaxBody, BodyMax: MaxBody, Media: true,
		Markdown: Markdown{Level: MarkdownNative, Bold: "*", Italic: "_", Strike: "~",
			InlineCode: true},
	},
	Telegram: {
		Channel: Telegram, BodyMax: MaxBody, Media: true,
		Markdown: Markdown{Level: MarkdownNative, Bold: "*", Italic: "_", Strike: "~",
			InlineCode: true, CodeBlock: true, Hyperlink: true},
	},
	Threema: {
		Channel: Threema, BodyMax: MaxBody, Media: true,
		Markdown: Markdown{Level: MarkdownNative, Bold: "*", Italic: "_", Strike: "~"},
	},
	SMS: {
		Channel: SMS, BodyMax: MaxBody,
		Markdown: Markdown{Level: MarkdownNone},
	},
	Custom: {
		Channel: Custom, BodyMax: MaxBody, Media: true,
		Markdown: Markdown{Level: MarkdownUnchanged, Bold: "**", Italic: "*", Strike: "~~",
			InlineCode: true, CodeBlock: true, Hyperlink: true},
	},
}

// limitsOf returns the limits of a channel type given in any spelling.
func limitsOf(channelType string) *Limits {
	switch channelType {
	case Web:
		return &webLimits
	case WhatsApp:
		return &waLimits
	case Facebook:
		return &fbLimits
	case Telegram:
		return &tgLimits
	case Threema:
		return &threemaLimits
	case SMS:
		return &smsLimits
	case Custom:
		return &customLimits
	}
	return limitsOf(Normalize(channelType))
}

// Copies of Table's rows, so that the hot path does no map lookup and a
// caller that edits Table (it should not) cannot change rendering midway.
var (
	webLimits     = Table[Web]
	waLimits      = Table[WhatsApp]
	fbLimits      = Table[Facebook]
	tgLimits      = Table[Telegram]
	threemaLimits = Table[Threema]
	smsLimits     = Table[SMS]
	customLimits  = Table[Custom]
)

// DefaultListButton is the list template's button text when the flow
// gives none (`button:`): WhatsApp refuses a list without one.
const DefaultListButton = "Options"

// HeaderMediaType returns the media type of a template header that is a
// URL — "image" (.jpg, .jpeg, .png), "video" (.mp4, .3gp) or "document"
// (any other path) — and false for a text header. A header is a URL when
// it is one http(s) URL without spaces.
func HeaderMediaType(header string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(header, "https://"):
		rest = header[len("https://"):]
	case strings.HasPrefix(header, "http://"):
		rest = header[len("http://"):]
	default:
		return "", false
	}
	if rest == "" || strings.ContainsAny(header, " \t\r\n") {
		return "", false
	}
	path := rest
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = strings.ToLower(path)
	switch {
	case strings.HasSuffix(path, ".jpg"), strings.HasSuffix(path, ".jpeg"), strings.HasSuffix(path, ".png"):
		return "image", true
	case strings.HasSuffix(path, ".mp4"), strings.HasSuffix(path, ".3gp"):
		return "video", true
	}
	return "document", true
}

package channels

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/flowbot/flowbot/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (and the generated parts of docs/channels.md)")

// webshopMenu is the menu of the webshop example (SPEC §8).
func webshopMenu() engine.Action {
	return engine.Action{Kind: engine.ActChoice, Choice: &engine.Choice{
		Body:     "How can I help you?",
		Fallback: "Please reply with the number of an option:",
		Options: []engine.Option{
			{ID: "delivery", Label: "Delivery status"},
			{ID: "returns", Label: "Return an item"},
			{ID: "hours", Label: "Opening hours"},
			{ID: "human", Label: "Talk to a human"},
		},
	}}
}

// campaignButton is the campaign-signup example's button template (seed 003).
func campaignButton() engine.Action {
	return engine.Action{Kind: engine.ActChoice, Choice: &engine.Choice{
		Form:     engine.FormButtonTemplate,
		Body:     "Welcome! Please click 'start' to subscribe to our campaign.",
		Fallback: "Please click 'start' to subscribe to our campaign.",
		Options:  []engine.Option{{ID: "start", Label: "start"}},
	}}
}

// numberedOptions returns n options "opt1"… labelled "Option 1"….
func numberedOptions(n int) []engine.Option {
	opts := make([]engine.Option, n)
	for i := range opts {
		opts[i] = engine.Option{ID: fmt.Sprintf("opt%d", i+1), Label: fmt.Sprintf("Option %d", i+1)}
	}
	return opts
}

func choice(form string, opts []engine.Option) engine.Action {
	return engine.Action{Kind: engine.ActChoice, Choice: &engine.Choice{
		Form:     form,
		Body:     "Which one would you like?",
		Fallback: "Please reply with the number of your choice:",
		Options:  opts,
	}}
}

func text(s string) engine.Action { return engine.Action{Kind: engine.ActText, Text: s} }

func markdown(s string) engine.Action {
	return engine.Action{Kind: engine.ActText, Text: s, Markdown: true}
}

// richMarkdown uses every markdown feature flowbot converts.
const richMarkdown = `# Your order

Thanks, **Ada**! Your order *#1234* is _on its way_ and ~~delayed~~ on time.
Track it [here](https://shop.example/track/1234) or at <https://shop.example>.
Use the code ` + "`SPRING-10`" + ` at checkout; ***really*** important.

> Our support team answers within 2 hours.

- Shoes
  - Laces
* Socks
1. Pay
2. Wait

` + "```" + `
order: 1234
status: shipped
` + "```" + `

Escaped \*stars\* stay, and so does 5 * 3 = 15.`

// longParagraphs returns text of about n runes in paragraphs of sentences.
func longParagraphs(n int) string {
	var b strings.Builder
	sentence := "Your parcel left our warehouse and is on its way to the pick-up point you chose. "
	for i := 0; b.Len() < n; i++ {
		b.WriteString(sentence)
		if i%12 == 11 {
			b.WriteString("\n\n")
		}
	}
	return strings.TrimSpace(b.String())
}

// goldenCases are the rendering cases of the golden matrix; each is
// rendered on every channel type into testdata/render/<case>.<channel>.json.
func goldenCases() map[string][]engine.Action {
	label20 := []engine.Option{
		{ID: "a", Label: "Öffnungszeiten heute"}, // 20 runes, 21 bytes
		{ID: "b", Label: "Lieferstatus"},
		{ID: "c", Label: "Rückgabe"},
	}
	label21 := []engine.Option{
		{ID: "a", Label: "Öffnungszeiten heute!"}, // 21 runes
		{ID: "b", Label: "Lieferstatus"},
		{ID: "c", Label: "Rückgabe"},
	}
	listChoice := &engine.Choice{
		Form:     engine.FormListTemplate,
		Body:     "Which size do you need?",
		Fallback: "Please reply with the number of your size:",
		Header:   "Sizes",
		Footer:   "Prices include VAT",
		Button:   "Show sizes",
		Options: []engine.Option{
			{ID: "s", Label: "Small", Description: "Fits 36–38"},
			{ID: "m", Label: "Medium", Description: "Fits 40–42"},
		},
	}
	longDesc := *listChoice
	longDesc.Options = []engine.Option{
		{ID: "s", Label: "Small", Description: strings.Repeat("d", 73)},
		{ID: "m", Label: "Medium", Description: "Fits 40–42"},
	}
	headed := &engine.Choice{
		Form:     engine.FormButtonTemplate,
		Body:     "Shall we send you a reminder?",
		Fallback: "Reply 1 for yes, 2 for no:",
		Header:   "Reminder",
		Footer:   "You can change this any time",
		Options:  []engine.Option{{ID: "yes", Label: "Yes"}, {ID: "no", Label: "No"}},
	}
	imageHeaded, videoHeaded := *headed, *headed
	imageHeaded.Header = "https://shop.example/reminder.jpg"
	videoHeaded.Header = "https://shop.example/how-it-works.mp4"
	noButton := *listChoice
	noButton.Button = ""
	carousel := &engine.Choice{
		Form:     engine.FormCarousel,
		Body:     "Pick a colour:",
		Fallback: "Please reply with the number of a colour:",
		Options: []engine.Option{
			{ID: "red", Label: "Red", Description: "Bright", Image: "https://shop.example/red.png"},
			{ID: "blue", Label: "Blue", Image: "https://shop.example/blue.png"},
			{ID: "plain", Label: "Plain"},
		},
	}
	longFallback := &engine.Choice{
		Body:     "Please read the terms first.",
		Fallback: longParagraphs(5200),
		Options:  numberedOptions(2),
	}
	longBody := &engine.Choice{
		Body:     longParagraphs(6000),
		Fallback: "Please reply with the number of an option:",
		Options:  numberedOptions(2),
	}
	return map[string][]engine.Action{
		"webshop_menu":      {text("Welcome to our shop!"), webshopMenu()},
		"campaign_button":   {campaignButton()},
		"bubbles_3":         {choice("", numberedOptions(3))},
		"bubbles_4":         {choice("", numberedOptions(4))},
		"bubbles_10":        {choice(engine.FormBubbles, numberedOptions(10))},
		"bubbles_11":        {choice(engine.FormBubbles, numberedOptions(11))},
		"bubbles_13":        {choice(engine.FormBubbles, numberedOptions(13))},
		"bubbles_14":        {choice(engine.FormBubbles, numberedOptions(14))},
		"label_20":          {choice("", label20)},
		"label_21":          {choice("", label21)},
		"button_template_4": {choice(engine.FormButtonTemplate, numberedOptions(4))},
		"button_template_header": {
			{Kind: engine.ActChoice, Choice: headed},
		},
		"list_template":                  {{Kind: engine.ActChoice, Choice: listChoice}},
		"list_template_long_description": {{Kind: engine.ActChoice, Choice: &longDesc}},
		"carousel":                       {{Kind: engine.ActChoice, Choice: carousel}},
		"button_template_image_header":   {{Kind: engine.ActChoice, Choice: &imageHeaded}},
		"button_template_video_header":   {{Kind: engine.ActChoice, Choice: &videoHeaded}},
		"list_template_no_button":        {{Kind: engine.ActChoice, Choice: &noButton}},
		"choice_no_options":              {choice("", nil)},
		"choice_long_fallback":           {{Kind: engine.ActChoice, Choice: longFallback}},
		"choice_long_body":               {{Kind: engine.ActChoice, Choice: longBody}},
		"two_choices": {
			choice("", numberedOptions(14)),
			choice("", numberedOptions(2)),
		},
		"media_image": {{Kind: engine.ActMedia, Media: &engine.Media{
			Type: "image", URL: "https://shop.example/parcel.jpg", Caption: "Your parcel"}}},
		"media_file_no_caption": {{Kind: engine.ActMedia, Media: &engine.Media{
			URL: "https://shop.example/invoice.pdf"}}},
		"url_buttons": {{Kind: engine.ActButtons, Text: "Find out more:", Buttons: []engine.URLButton{
			{Label: "Shipping", URL: "https://shop.example/shipping"},
			{Label: "Returns", URL: "https://shop.example/returns"},
		}}},
		"navigate": {{Kind: engine.ActNavigate, URL: "https://shop.example/checkout"}},
		"platform_and_delay": {
			{Kind: engine.ActDelay, Seconds: 1.5},
			{Kind: engine.ActPlatform, Name: "contact_update", Payload: map[string]any{"name": "Ada", "campaigns": true}},
			{Kind: engine.ActPlatform, Name: "forward_any"},
		},
		"markdown":           {markdown(richMarkdown)},
		"markdown_off":       {text("**not markdown**, _as typed_ ~~kept~~ [x](y)")},
		"long_text":          {text(longParagraphs(11000))},
		"long_markdown_text": {markdown("**Terms**\n\n" + longParagraphs(5100))},
	}
}

// golden is what a golden file holds: the plan of every choice, whether
// the last one was numbered, and the exact packets.
type golden struct {
	Channel  string       `json:"channel"`
	Plans    []goldenPlan `json:"plans,omitempty"`
	Numbered bool         `json:"numbered"`
	Packets  []Packet     `json:"packets"`
}

type goldenPlan struct {
	Form   string `json:"form"`
	Reason string `json:"reason,omitempty"`
}

func TestRenderGolden(t *testing.T) {
	dir := filepath.Join("testdata", "render")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	cases := goldenCases()
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		actions := cases[name]
		for _, ch := range Types {
			file := name + "." + ch + ".json"
			want[file] = true
			t.Run(name+"/"+ch, func(t *testing.T) {
				r := Render(actions, ch)
				g := golden{Channel: ch, Numbered: r.Numbered, Packets: r.Packets}
				for _, a := range actions {
					if a.Kind == engine.ActChoice {
						form, reason := Plan(*a.Choice, ch)
						g.Plans = append(g.Plans, goldenPlan{form, reason})
					}
				}
				got, err := json.MarshalIndent(g, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				checkGolden(t, filepath.Join(dir, file), got)
				checkPacketInvariants(t, r, ch)
			})
		}
	}
	// No golden file may outlive its case.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			if *update {
				os.Remove(filepath.Join(dir, e.Name()))
				continue
			}
			t.Errorf("%s: stale golden file with no case (run go test ./channels -update)", filepath.Join(dir, e.Name()))
		}
	}
}

// checkPacketInvariants checks what must hold for every rendering.
func checkPacketInvariants(t *testing.T, r Rendered, ch string) {
	t.Helper()
	checkMetaLimits(t, r, ch)
	for i, p := range r.Packets {
		switch pl := p.Payload.(type) {
		case MessagePayload:
			if n := len([]rune(pl.Body)); n > MaxBody {
				t.Errorf("packet %d: message body has %d runes > %d", i, n, MaxBody)
			}
		case ChoicePayload:
			if pl.Fallback == "" && pl.Body != "" {
				t.Errorf("packet %d: %s without fallback", i, p.Name)
			}
			if ch != Web && ch != WhatsApp && ch != Facebook {
				t.Errorf("packet %d: clickable %s on %s", i, p.Name, ch)
			}
		case MediaPayload:
			if ch == SMS {
				t.Errorf("packet %d: media on sms", i)
			}
		case ButtonsPayload, NavigatePayload:
			if ch != Web {
				t.Errorf("packet %d: %s on %s", i, p.Name, ch)
			}
		}
	}
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./channels -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the rendering (- golden, + got; run go test ./channels -update if the change is intended):\n%s",
			path, lineDiff(string(want), string(got)))
	}
}

// lineDiff returns a unified-style line diff of a and b (longest common
// subsequence), with up to 3 lines of context around each change.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 {
		for i := 0; i < len(x) && i < len(y); i++ {
			if x[i] != y[i] {
				return fmt.Sprintf("first difference at line %d:\n- %s\n+ %s", i+1, x[i], y[i])
			}
		}
		return fmt.Sprintf("- %d lines\n+ %d lines", len(x), len(y))
	}
	// lcs[i][j]: length of the LCS of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, line{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', x[i]})
			i++
		default:
			ops = append(ops, line{'+', y[j]})
			j++
		}
	}
	var out strings.Builder
	last := -1
	for k, l := range ops {
		near := false
		for d := max(0, k-3); d <= min(len(ops)-1, k+3); d++ {
			if ops[d].op != ' ' {
				near = true
				break
			}
		}
		if !near {
			continue
		}
		if last >= 0 && k > last+1 {
			out.WriteString("…\n")
		}
		last = k
		fmt.Fprintf(&out, "%c %s\n", l.op, l.text)
	}
	return out.String()
}

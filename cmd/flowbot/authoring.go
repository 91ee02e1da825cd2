package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/engine"
	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
	"github.com/flowbot/flowbot/runtime/flowtest"
	"github.com/flowbot/flowbot/runtime/httpjob"
	"github.com/flowbot/flowbot/runtime/llm"
	"github.com/flowbot/flowbot/runtime/netguard"
)

func newTestCmd(stdout io.Writer) *cobra.Command {
	var coverage bool
	var coverageJSON string
	var locales []string
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run conversation tests (*_test.yaml) against their flows",
		Long: `test runs the conversation tests written in YAML beside your flows
(NAME_test.yaml next to NAME.yaml). Each test may start from any state with
any variables, lists what the contact sends and what the bot must answer, and
names the channels to run on. HTTP steps are answered by the test's mocks.
Failures print what was expected and what came, and the exit code is 1.
Test files are read strictly: an unknown key, state, channel, option or
variable is an error at file:line:col (docs/testing.md lists every key).

--coverage prints, per flow, how many of its states, options, transitions,
error paths and give-ups the tests reached, then what they did not reach;
--coverage-json FILE writes the same as JSON.

--locale de (or --locale en,de) runs every test that names no locales: of its
own once in each of these platform locales, as a test's locales: does.`,
		Example: `  flowbot test examples
  flowbot test examples/webshop_test.yaml
  flowbot test --coverage --coverage-json coverage.json examples
  flowbot test --locale en,de examples/multilingual_test.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			files, err := flowtest.Find(args)
			if err != nil {
				return usagef("%v", err)
			}
			if len(files) == 0 {
				fmt.Fprintf(stdout, "no conversation tests (*_test.yaml) in %s\n", strings.Join(args, " "))
				return errFailed
			}
			passed, failed := 0, 0
			var cov *flowtest.Coverage
			if coverage || coverageJSON != "" {
				cov = &flowtest.Coverage{}
			}
			for _, f := range files {
				rep, err := flowtest.Run(f, flowtest.RunOptions{Flows: flows.Options{Env: os.LookupEnv}, Coverage: cov, Locales: locales})
				if err != nil {
					fmt.Fprintf(stdout, "FAIL %s: %v\n", f, err)
					failed++
					continue
				}
				for _, fail := range rep.Failures {
					fmt.Fprintf(stdout, "FAIL %s\n", fail)
				}
				status := "ok  "
				if len(rep.Failures) > 0 {
					status = "FAIL"
				}
				fmt.Fprintf(stdout, "%s %s (%d passed, %d failed)\n", status, f, rep.Passed, len(rep.Failures))
				passed += rep.Passed
				failed += len(rep.Failures)
			}
			fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
			if coverage {
				fmt.Fprintln(stdout)
				flowtest.WriteTable(stdout, cov.Flows())
			}
			if coverageJSON != "" {
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cov.Flows()); err != nil {
					return err
				}
				if err := os.WriteFile(coverageJSON, b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			if failed > 0 {
				return errFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&coverage, "coverage", false, "print what the tests reached of each flow")
	cmd.Flags().StringSliceVar(&locales, "locale", nil, "run each test without locales: of its own in these platform locales (e.g. de, or en,de)")
	cmd.Flags().StringVar(&coverageJSON, "coverage-json", "", "write what the tests reached of each flow to this JSON file")
	return cmd
}

func loadOne(path string) (*flows.Flow, error) {
	f, err := flows.Load(path, flows.Options{Env: os.LookupEnv})
	if err != nil {
		return nil, fmt.Errorf("%v\n(flowbot validate %s shows every problem)", err, path)
	}
	return f, nil
}

func newGraphCmd(stdout io.Writer) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FLOW",
		Short: "Draw a flow as a Mermaid or Graphviz diagram",
		Long: `graph prints a flow's states and transitions. Transitions are labelled by
their trigger (an option's label, "answer", an HTTP status, an event); error
and give-up paths are dashed; global commands and flow-wide handlers are
drawn apart, as "from any state".`,
		Example: `  flowbot graph examples/webshop.yaml > webshop.mmd
  flowbot graph --format dot examples/webshop.yaml | dot -Tpng > webshop.png`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := loadOne(args[0])
			if err != nil {
				return err
			}
			switch format {
			case "mermaid":
				fmt.Fprint(stdout, flows.Mermaid(f))
			case "dot":
				fmt.Fprint(stdout, flows.DOT(f))
			default:
				return usagef("--format must be mermaid or dot, not %q", format)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "mermaid", "mermaid or dot")
	return cmd
}

func newSchemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the flow language, for editors",
		Long: `schema prints the JSON Schema of flow files. It is generated from the same
definitions the validator uses. Point your editor's YAML support at it, e.g.
with a first line in each flow:

  # yaml-language-server: $schema=./flow.schema.json`,
		Example: `  flowbot schema > flow.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := flows.Schema()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
			return nil
		},
	}
}

func newChatCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	var channel, mocksFile, record, locale string
	var trace bool
	cmd := &cobra.Command{
		Use:   "chat FLOW",
		Short: "Talk to a flow in the terminal, as a channel shows it",
		Long: `chat runs a flow in the terminal. Type what the contact says; the bot's
answer is shown as the chosen channel would show it (buttons on web, numbered
text on sms, …). Commands:

  /click ID-or-label   click an option
  /media URL           send a file
  /location LAT,LON    share a location
  /event NAME          a platform event (forward_failed, campaign_unsubscribe)
  /record FILE         write the conversation so far as a test file
  /restart             start over          /quit   leave

--record FILE writes the conversation as a conversation test after every
turn: run it with flowbot test FILE. Each HTTP and llm request the flow made
becomes a mock with the answer it got; credentials from the environment
(…TOKEN, …KEY, …SECRET, …PASSWORD) are written as placeholders.

HTTP steps call their real URLs, or the mocks of --mocks (a YAML list in the
format of a conversation test's "http:" section). Unlike flowbot serve, chat
lets them reach any address, localhost and the private network included
(--allow-network does not apply): it is a tool for your own machine, and
the only one typing is you.`,
		Example: `  flowbot chat examples/webshop.yaml --channel whatsapp_business --trace
  flowbot chat examples/webshop.yaml --mocks orders.yaml --record examples/lookup_test.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch := channels.Normalize(channel)
			if ch != channel {
				return usagef("unknown channel %q (one of %s)", channel, strings.Join(channels.Types, ", "))
			}
			s := &chatSession{flowPath: args[0], ch: ch, locale: locale, trace: trace, record: record, out: stdout}
			s.newRecording()
			env := func(name string) (string, bool) { return s.rec.Env(os.LookupEnv)(name) }
			bot, _, err := compile.File(args[0], compile.Options{Flows: flows.Options{Env: env}})
			if err != nil {
				return fmt.Errorf("%v\n(flowbot validate %s shows every problem)", err, args[0])
			}
			answer, err := answerer(cmd.Context(), mocksFile)
			if err != nil {
				return err
			}
			s.bot = bot
			s.answer = func(job *engine.Job) (engine.HTTPResult, error) { return s.rec.Answerer(answer)(job) }
			return s.run(stdin)
		},
	}
	cmd.Flags().StringVar(&record, "record", "", "write the conversation as a test file (after every turn)")
	cmd.Flags().StringVar(&channel, "channel", "web", "the channel to show: "+strings.Join(channels.Types, ", "))
	cmd.Flags().BoolVar(&trace, "trace", false, "print each transition and the context size")
	cmd.Flags().StringVar(&locale, "locale", "", "the platform's locale to send (de, de_DE, …): a multilingual flow answers in it until the conversation picks a language")
	cmd.Flags().StringVar(&mocksFile, "mocks", "", "answer HTTP steps from this YAML file instead of the network")
	return cmd
}

func answerer(ctx context.Context, mocksFile string) (flowtest.Answerer, error) {
	if mocksFile == "" {
		// Any address: chat is a local development tool whose only input
		// is its user's (see the command's help).
		runner := &llm.Runner{Next: &httpjob.Runner{Network: netguard.MustParsePolicy("all")}}
		if cfg, ok, err := llm.ConfigFromEnv(os.Getenv); err != nil {
			return nil, err
		} else if ok {
			runner.Client = llm.New(cfg, nil)
		}
		return func(job *engine.Job) (engine.HTTPResult, error) { return runner.Run(ctx, job), nil }, nil
	}
	src, err := os.ReadFile(mocksFile)
	if err != nil {
		return nil, err
	}
	mocks, err := flowtest.ParseMocks(mocksFile, src)
	if err != nil {
		return nil, err
	}
	return func(job *engine.Job) (engine.HTTPResult, error) { return flowtest.Answer(mocks, job) }, nil
}

// chatSession is one terminal conversation with a flow, recorded as it
// goes (flowtest.Recording) so that --record and /record can write it as
// a test.
type chatSession struct {
	flowPath string
	bot      *engine.Bot
	ch       string
	locale   string // --locale: the platform's locale sent with every event
	trace    bool
	record   string // --record: the file written after every turn
	answer   flowtest.Answerer
	out      io.Writer
	ctx      []byte
	rec      *flowtest.Recording
}

// newRecording starts recording the conversation anew (at the start and
// after /restart). The environment the flow read at load stays recorded.
func (s *chatSession) newRecording() {
	rec := flowtest.NewRecording("recorded chat", s.ch, "", nil)
	if s.rec != nil {
		rec.KeepEnv(s.rec)
	}
	s.rec = rec
}

// write writes the conversation so far as a test file.
func (s *chatSession) write(path string) error {
	flowRel := s.flowPath
	if absFlow, err := filepath.Abs(s.flowPath); err == nil {
		if absTest, err := filepath.Abs(path); err == nil {
			if rel, err := filepath.Rel(filepath.Dir(absTest), absFlow); err == nil {
				flowRel = filepath.ToSlash(rel)
			}
		}
	}
	var b bytes.Buffer
	if err := flowtest.Write(&b, s.rec.File(flowRel)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (s *chatSession) send(ev engine.Event) {
	ev.Channel, ev.Locale, ev.Now = s.ch, s.locale, time.Now()
	ex, err := flowtest.Exchange(s.bot, s.ctx, ev, s.answer)
	if err != nil {
		fmt.Fprintf(s.out, "! %v\n", err)
		return
	}
	s.ctx = ex.Context
	if s.trace {
		for _, t := range ex.Result.Trace {
			fmt.Fprintf(s.out, "  · %s --%s--> %s\n", t.From, t.Trigger, t.To)
		}
		for _, e := range ex.Result.Errors {
			fmt.Fprintf(s.out, "  · error: %v\n", e)
		}
	}
	for _, p := range ex.Rendered.Packets {
		fmt.Fprint(s.out, showPacket(p))
	}
	if s.trace {
		fmt.Fprintf(s.out, "  · state %s, context %d bytes\n", ex.Result.Session.State, len(s.ctx))
	}
	if err := s.rec.Turn(ev, ex); err != nil {
		fmt.Fprintf(s.out, "! not recorded: %v\n", err)
	}
	if s.record != "" {
		if err := s.write(s.record); err != nil {
			fmt.Fprintf(s.out, "! --record: %v\n", err)
		}
	}
}

func (s *chatSession) run(stdin io.Reader) error {
	fmt.Fprintf(s.out, "Chatting with %s on %s. Type /quit to leave.\n", s.bot.Flow().Name, s.ch)
	s.send(engine.Event{Name: engine.EvStart})
	in := bufio.NewScanner(stdin)
	for {
		fmt.Fprint(s.out, "> ")
		if !in.Scan() {
			fmt.Fprintln(s.out)
			s.warn()
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		cmd, arg, _ := strings.Cut(line, " ")
		var ev engine.Event
		switch cmd {
		case "/quit", "/exit":
			s.warn()
			return nil
		case "/restart":
			s.ctx = nil
			s.newRecording()
			ev = engine.Event{Name: engine.EvStart}
		case "/record":
			if arg == "" {
				fmt.Fprintln(s.out, "! write /record FILE (such as /record examples/my_test.yaml)")
				continue
			}
			if err := s.write(arg); err != nil {
				fmt.Fprintf(s.out, "! %v\n", err)
				continue
			}
			fmt.Fprintf(s.out, "  · recorded %d turns in %s (run it: flowbot test %s)\n", s.rec.Turns(), arg, arg)
			s.warn()
			continue
		case "/click":
			if err := flowtest.CheckClick(s.bot.Flow(), arg); err != nil {
				fmt.Fprintf(s.out, "! %v\n", err)
				continue
			}
			ev = engine.Event{Name: engine.EvClick, ClickID: arg}
		case "/media":
			ev = engine.Event{Name: engine.EvMedia, MediaURL: arg}
		case "/event":
			ev = engine.Event{Name: arg}
		case "/location":
			lat, lon, _ := strings.Cut(arg, ",")
			la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
			lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
			if err1 != nil || err2 != nil {
				fmt.Fprintln(s.out, "! write /location 52.52,13.40")
				continue
			}
			ev = engine.Event{Name: engine.EvLocation, Location: &engine.Location{Latitude: la, Longitude: lo}}
		default:
			if strings.HasPrefix(line, "/") {
				fmt.Fprintf(s.out, "! unknown command %s (try /click, /media, /location, /event, /record, /restart, /quit)\n", cmd)
				continue
			}
			ev = engine.Event{Name: engine.EvMessage, Text: line}
		}
		s.send(ev)
	}
}

// warn prints what the recording could not keep exactly.
func (s *chatSession) warn() {
	for _, w := range s.rec.Warnings() {
		fmt.Fprintf(s.out, "! recording: %s\n", w)
	}
}

// showPacket prints a packet roughly as the contact's app shows it.
func showPacket(p channels.Packet) string {
	var m map[string]any
	b, _ := json.Marshal(p.Payload)
	_ = json.Unmarshal(b, &m)
	str := func(k string) string { s, _ := m[k].(string); return s }
	var out strings.Builder
	line := func(prefix, text string) {
		for _, l := range strings.Split(text, "\n") {
			fmt.Fprintf(&out, "%s%s\n", prefix, l)
		}
	}
	switch p.Name {
	case channels.PacketMessage:
		line("bot: ", str("body"))
	case "bubbles", "button_template", "list_template", "carousel":
		if h := str("header"); h != "" {
			line("bot: ", h)
		}
		line("bot: ", str("body"))
		opts, _ := m["options"].([]any)
		for _, o := range opts {
			om, _ := o.(map[string]any)
			label, _ := om["label"].(string)
			id, _ := om["id"].(string)
			extra := ""
			if d, _ := om["description"].(string); d != "" {
				extra = " — " + d
			}
			fmt.Fprintf(&out, "     [ %s ]%s   (/click %s)\n", label, extra, id)
		}
		if f := str("footer"); f != "" {
			line("     ", f)
		}
	case "media":
		fmt.Fprintf(&out, "bot: [%s] %s %s\n", str("type"), str("link"), str("caption"))
	case "buttons":
		line("bot: ", str("body"))
		bs, _ := m["buttons"].([]any)
		for _, x := range bs {
			bm, _ := x.(map[string]any)
			fmt.Fprintf(&out, "     [ %v ↗ %v ]\n", bm["label"], bm["url"])
		}
	case "navigate":
		fmt.Fprintf(&out, "bot: (opens %s)\n", str("url"))
	case "delay":
		fmt.Fprintf(&out, "bot: (typing… %vs)\n", m["seconds"])
	default:
		fmt.Fprintf(&out, "  ⚙ %s %s\n", p.Name, b)
	}
	return out.String()
}

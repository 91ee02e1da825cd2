package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowbot/flowbot/runtime/userlike/platformtest"
)

// binary is flowbot built once for all tests, with a test version string.
var binary string

const testVersion = "v0.0.0-test"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowbot-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "flowbot")
	build := exec.Command("go", "build", "-race", "-ldflags", "-X main.version="+testVersion, "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		// Without cgo there is no race detector: build without it.
		build = exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binary, ".")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "go build:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// flowbot runs the binary to completion and returns its exit code and output.
func flowbot(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = t.TempDir() // a serve that starts writes its data folder there
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func examples(t *testing.T) string {
	dir, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateExamples(t *testing.T) {
	code, out, errOut := flowbot(t, nil, "validate", examples(t))
	if code != 0 || !strings.Contains(out, "flows checked: 0 errors") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Files too, several at once.
	code, out, _ = flowbot(t, nil, "validate", filepath.Join(examples(t), "campaign-signup.yaml"), filepath.Join(examples(t), "name-email-forward.yaml"))
	if code != 0 || !strings.Contains(out, "2 flows checked: 0 errors") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

const badFlow = `name: bad
start: ask
states:
  ask:
    ask: "Name?"
    save: name
    next: nowhere
`

func TestValidateBadFlow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(badFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{path, dir} {
		code, out, _ := flowbot(t, nil, "validate", arg)
		if code != 1 {
			t.Fatalf("validate %s: exit %d, want 1\n%s", arg, code, out)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(path) + `:7:11: .*nowhere`).MatchString(out) {
			t.Errorf("no file:line:col lint for the unknown state:\n%s", out)
		}
		if !strings.Contains(out, "1 flow checked: 1 error") {
			t.Errorf("no summary:\n%s", out)
		}
	}
	code, out, _ := flowbot(t, nil, "validate", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(out, "cannot read") {
		t.Errorf("missing file: exit %d\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{},
		{"validate"},
		{"serve", "--no-such-flag"},
		{"serve", "extra-argument"},
		{"serve", "--log-format", "xml"},
		{"serve", "--allow-network", "loopbak"},
		{"version", "extra"},
	} {
		code, _, errOut := flowbot(t, nil, args...)
		if code != 2 {
			t.Errorf("flowbot %q: exit %d, want 2\n%s", args, code, errOut)
		}
		if !strings.Contains(errOut, "--help") {
			t.Errorf("flowbot %q: no pointer to --help:\n%s", args, errOut)
		}
	}
	_, _, errOut := flowbot(t, nil, "serv")
	if !strings.Contains(errOut, `unknown command "serv"`) || !strings.Contains(errOut, `did you mean "serve"`) {
		t.Errorf("no suggestion:\n%s", errOut)
	}
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := flowbot(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "flowbot "+testVersion+"\n") || !strings.Contains(out, "go: go1.") || !strings.Contains(out, "revision: ") {
		t.Fatalf("version: exit %d\n%s", code, out)
	}
	code, out, _ = flowbot(t, nil, "serve", "--help")
	for _, want := range []string{"POST /bots/{name}/webhook", "--flows", "--addr", "--webhook-token", "FLOWBOT_WEBHOOK_TOKEN", "--token-header", "--log-bodies", "--log-format", "--allow-network", "FLOWBOT_ALLOW_NETWORK", "169.254.169.254", "Examples:", "curl"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	if code != 0 {
		t.Errorf("serve --help: exit %d", code)
	}
	code, out, _ = flowbot(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "validate") || !strings.Contains(out, "serve") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

func TestServeRefusesFlowsWithErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(badFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := flowbot(t, nil, "serve", "--flows", dir, "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, path+":7:11: ") || !strings.Contains(errOut, "not serving") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	code, _, errOut = flowbot(t, nil, "serve", "--flows", filepath.Join(dir, "nope"), "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "--flows") {
		t.Fatalf("missing folder: exit %d\n%s", code, errOut)
	}
}

// process is a running flowbot serve.
type process struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string // the rest of stderr
	all   *bytes.Buffer
}

// startServe starts flowbot serve on a free loopback port and waits for it
// to log the address it serves on.
// postgresDatabase reports whether args give serve a PostgreSQL
// --database, which then keeps Userlike mode's data too.
func postgresDatabase(args []string) bool {
	i := slices.Index(args, "--database")
	return i >= 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], "postgres")
}

func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	// The tests' order services, API stand-ins and webhook receivers are
	// on 127.0.0.1; a later --allow-network in args overrides this one.
	base := []string{"serve", "--addr", "127.0.0.1:0", "--allow-network", "loopback"}
	if !slices.Contains(args, "--data") && !postgresDatabase(args) {
		base = append(base, "--data", filepath.Join(t.TempDir(), "flowbot.db"))
	}
	cmd := exec.Command(binary, append(base, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan string, 1000), all: &bytes.Buffer{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	addrRe := regexp.MustCompile(`msg=serving addr=(\S+)|"msg":"serving","addr":"([^"]+)"`)
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("flowbot serve exited before serving:\n%s", p.all)
			}
			p.all.WriteString(line + "\n")
			if m := addrRe.FindStringSubmatch(line); m != nil {
				p.addr = m[1] + m[2]
				return p
			}
		case <-deadline:
			t.Fatalf("flowbot serve did not start:\n%s", p.all)
		}
	}
}

// stop signals the process and returns its exit code and remaining logs.
func (p *process) stop(t *testing.T, sig os.Signal) (int, string) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	for line := range p.lines {
		p.all.WriteString(line + "\n")
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), p.all.String()
}

// TestBinaryRestartBetweenTurns talks to the real binary, killing the
// process between turns and starting a new one on another port: the
// conversation goes on from the context the platform echoes.
func TestBinaryRestartBetweenTurns(t *testing.T) {
	const token = "s3cret-token"
	env := []string{"FLOWBOT_WEBHOOK_TOKEN=" + token}
	first := startServe(t, env, "--flows", examples(t))
	plat := platformtest.New("http://" + first.addr + "/bots/name-email-forward/webhook")
	plat.Token = token
	c := plat.Conversation("chatbot::binary", "web")
	r, err := c.Start("")
	if err != nil || r.Status != 200 || len(r.Texts()) != 1 {
		t.Fatalf("start: %v %d %s", err, r.Status, r.Body)
	}
	r, err = c.Say("Alan")
	if err != nil || r.Status != 200 || !slices.Contains(r.Texts(), "Hello Alan! Could you tell me your email as well?") {
		t.Fatalf("name: %v %d %s", err, r.Status, r.Body)
	}
	if code, _ := first.stop(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("killed process exit code %d", code)
	}

	second := startServe(t, env, "--flows", examples(t), "--log-format", "json")
	plat.SetURL("http://" + second.addr + "/bots/name-email-forward/webhook")
	r, err = c.Say("not an email")
	if err != nil || r.Status != 200 || !strings.Contains(strings.Join(r.Texts(), " "), "doesn't look like an email") {
		t.Fatalf("invalid email on the new process: %v %d %s", err, r.Status, r.Body)
	}
	// And once more, on a third process.
	if code, logs := second.stop(t, syscall.SIGTERM); code != 0 || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("SIGTERM: exit %d, want 0 after a graceful stop\n%s", code, logs)
	}
	third := startServe(t, env, "--flows", examples(t))
	plat.SetURL("http://" + third.addr + "/bots/name-email-forward/webhook")
	r, err = c.Say("alan@example.com")
	if err != nil || r.Status != 200 {
		t.Fatalf("email: %v %d %s", err, r.Status, r.Body)
	}
	if cu, ok := r.Find("contact_update"); !ok || cu.Payload["email"] != "alan@example.com" {
		t.Fatalf("contact_update %v", r.Names())
	}
	if _, ok := r.Find("forward_any"); !ok {
		t.Fatalf("no forward_any: %v", r.Names())
	}

	// The token is enforced, and logs carry no message bodies by default.
	plat.Token = "wrong"
	if r, _ := c.Say("hi"); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", r.Status)
	}
	_, logs := third.stop(t, syscall.SIGTERM)
	if strings.Contains(logs, "alan@example.com") {
		t.Errorf("the logs contain a message body:\n%s", logs)
	}
	if !strings.Contains(logs, "msg=turn") || !strings.Contains(logs, "from=ask_email to=") {
		t.Errorf("no turn logs:\n%s", logs)
	}
}

// TestServeAllowNetwork: --allow-network and FLOWBOT_ALLOW_NETWORK reach
// the server: a bad list is a usage error naming the flag, the flag wins
// over the variable, and without loopback allowed the Chat API refuses a
// webhook on 127.0.0.1 at once.
func TestServeAllowNetwork(t *testing.T) {
	code, _, errOut := flowbot(t, []string{"FLOWBOT_ALLOW_NETWORK=10.0.0.0/33"}, "serve", "--addr", "127.0.0.1:0", "--flows", examples(t))
	if code != 2 || !strings.Contains(errOut, `--allow-network: network allow list: "10.0.0.0/33" is not a valid CIDR`) {
		t.Fatalf("bad FLOWBOT_ALLOW_NETWORK: exit %d\n%s", code, errOut)
	}
	// The flag wins over the variable; "" is public addresses only.
	env := []string{"FLOWBOT_ALLOW_NETWORK=bogus", "FLOWBOT_API_KEYS=sk_cli"}
	p := startServe(t, env, "--flows", examples(t), "--database", filepath.Join(t.TempDir(), "platform.db"), "--allow-network", "")
	call := func(path string, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+p.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk_cli")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, out := call("/api/bots", `{"name": "Shop", "flow": "webshop"}`)
	m := regexp.MustCompile(`"id":"([^"]+)"`).FindStringSubmatch(out)
	if status != 201 || m == nil {
		t.Fatalf("create bot: %d %s", status, out)
	}
	status, out = call("/api/conversations", `{"bot_id": "`+m[1]+`", "user_id": "anna", "create_user_if_not_exists": true, "webhook": "http://127.0.0.1:9/hook"}`)
	if status != 422 || !strings.Contains(out, "127.0.0.1 is a loopback address") || !strings.Contains(out, "--allow-network loopback") {
		t.Errorf("loopback webhook: %d %s", status, out)
	}
}

// TestServeWarnsAboutUnsetEnv: an unset ${env.X} is a warning at load, and
// serve starts anyway.
func TestServeWarnsAboutUnsetEnv(t *testing.T) {
	dir := t.TempDir()
	flow := `name: envy
start: hello
states:
  hello:
    say: "Support: ${env.FLOWBOT_TEST_UNSET_VARIABLE}"
    do: [end]
`
	if err := os.WriteFile(filepath.Join(dir, "envy.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, nil, "--flows", dir)
	if !strings.Contains(p.all.String(), "FLOWBOT_TEST_UNSET_VARIABLE") || !strings.Contains(p.all.String(), "level=WARN") {
		t.Errorf("no warning about the unset variable before serving:\n%s", p.all)
	}
	resp, err := http.Get("http://" + p.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"envy"`) {
		t.Fatalf("healthz %d %s", resp.StatusCode, b)
	}
	if code, _ := p.stop(t, os.Interrupt); code != 0 {
		t.Errorf("SIGINT: exit %d", code)
	}
}

package server_test

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the flowbot binary the crash tests build.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildFlowbot builds the flowbot command into a temporary folder (with
// the race detector when it can), once per test binary.
var buildFlowbot = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "flowbot-crash-test")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "flowbot")
	var out bytes.Buffer
	cmd := exec.Command("go", "build", "-race", "-o", bin, "github.com/flowbot/flowbot/cmd/flowbot")
	cmd.Stdout, cmd.Stderr = &out, &out
	if cmd.Run() != nil {
		out.Reset()
		cmd = exec.Command("go", "build", "-o", bin, "github.com/flowbot/flowbot/cmd/flowbot")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return "", &buildError{err, out.String()}
		}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// proc is a running flowbot serve.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{} // closed when stderr ends
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startFlowbot runs `flowbot serve` on a free loopback port with env and
// waits until it serves.
func startFlowbot(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	bin, err := buildFlowbot()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	examples, _ := filepath.Abs("../../examples")
	// The order service and the Userlike API stand-in are on 127.0.0.1.
	cmd := exec.Command(bin, append([]string{"serve", "--flows", examples, "--addr", "127.0.0.1:0", "--allow-network", "loopback"}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("flowbot (pid %d) logs:\n%s", cmd.Process.Pid, p.log())
		}
	})
	addrs := make(chan string, 1)
	re := regexp.MustCompile(`msg=serving addr=(\S+)`)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(line); m != nil {
				addrs <- m[1]
			}
		}
	}()
	select {
	case p.addr = <-addrs:
	case <-p.done:
		t.Fatalf("flowbot serve exited:\n%s", p.log())
	case <-time.After(2 * wait):
		t.Fatalf("flowbot serve did not start:\n%s", p.log())
	}
	return p
}

// stop signals the process and waits for it to end.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}

// TestCrashDuringLookup: the real binary is killed (SIGKILL) while the
// order service holds the request. Restarted on the same data file, it
// takes the job up again once the dead process's lease expires; released,
// the order service's answer reaches the API URL once, and the
// conversation goes on.
func TestCrashDuringLookup(t *testing.T) {
	s := newAsyncSetup(t)
	first := startFlowbot(t, s.env, "--data", s.data, "--lease", "1s")
	s.plat.SetURL("http://" + first.addr + "/bots/webshop/webhook")
	c := askOrder(t, s.plat, "chatbot::crash")
	s.orders.waitArrived(t)
	if code := first.stop(t, syscall.SIGKILL); code != -1 {
		t.Fatalf("killed: exit code %d", code)
	}

	second := startFlowbot(t, s.env, "--data", s.data, "--lease", "1s")
	s.plat.SetURL("http://" + second.addr + "/bots/webshop/webhook")
	s.orders.waitArrived(t) // the job runs again, once the lease ran out
	s.orders.free()
	reqs := s.api.Wait(1, wait)
	if len(reqs) != 1 {
		t.Fatalf("%d pushes", len(reqs))
	}
	checkResult(t, reqs[0], "chatbot::crash")
	r := must(t)(c.Click("hours"))
	if !strings.Contains(strings.Join(r.Texts(), " "), "Monday to Friday") {
		t.Fatalf("next turn %q", r.Texts())
	}
	if code := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	logs := second.log()
	if !strings.Contains(logs, "outbox: resuming work left from before") || !strings.Contains(logs, "msg=stopped") {
		t.Errorf("logs:\n%s", logs)
	}
	// Nothing was pushed twice.
	ids := map[string]int{}
	for _, r := range s.api.Requests() {
		for _, id := range r.PushIDs {
			ids[id]++
		}
	}
	if len(ids) != 1 || len(s.api.Accepted()) != 1 {
		t.Fatalf("push ids %v", ids)
	}
}

// TestCrashDuringPush: the binary is killed while its push request is on
// its way (the API URL has not answered). The restarted process sends the
// push again — with the same push id — and it is taken once.
func TestCrashDuringPush(t *testing.T) {
	s := newAsyncSetup(t)
	s.orders.free()
	arrived, gate := make(chan struct{}), make(chan struct{})
	defer close(gate)
	s.api.Respond = func(n int, r *http.Request) (int, http.Header) {
		if n > 1 {
			return 0, nil
		}
		close(arrived)
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		return http.StatusServiceUnavailable, nil
	}
	first := startFlowbot(t, s.env, "--data", s.data, "--lease", "1s")
	s.plat.SetURL("http://" + first.addr + "/bots/webshop/webhook")
	askOrder(t, s.plat, "chatbot::crash-push")
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("no push")
	}
	first.stop(t, syscall.SIGKILL)

	second := startFlowbot(t, s.env, "--data", s.data, "--lease", "1s")
	reqs := s.api.Wait(2, wait)
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].Accepted || !reqs[1].Accepted || strings.Join(reqs[0].PushIDs, ",") != strings.Join(reqs[1].PushIDs, ",") || len(reqs[1].PushIDs) != 1 {
		t.Fatalf("requests: %+v", reqs)
	}
	checkResult(t, reqs[1], "chatbot::crash-push")
	second.stop(t, syscall.SIGTERM)
}

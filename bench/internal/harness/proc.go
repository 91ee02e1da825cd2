// Package harness holds what the load, soak and fault harnesses of bench/
// share: building and running the flowbot binary on a loopback port
// (killing and restarting it on the same port and files), reading its
// figures from /proc and /metrics, building Userlike webhook calls, and the
// fake services flowbot talks to (an order API, the Userlike API URL that
// receives pushes, a Chat API webhook receiver), each of which can be taken
// down and brought back during a run.
//
// It is Linux-only where it reads /proc (ReadProc); everything else is
// portable.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Build compiles flowbot's command into dir and returns the binary's path.
// It must run inside the module (as go run ./bench/… does).
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "flowbot")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/flowbot/flowbot/cmd/flowbot")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/flowbot: %v\n%s", err, out.String())
	}
	return bin, nil
}

// AllowNetworkArgs returns the arguments that let the serve command of bin
// make requests to loopback addresses (the fake services of a harness):
// --allow-network loopback when the binary knows the flag, else nothing
// (a binary from before the flag makes such requests anyway).
func AllowNetworkArgs(bin string) []string {
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	if bytes.Contains(out, []byte("--allow-network")) {
		return []string{"--allow-network", "loopback"}
	}
	return nil
}

// FreeAddr returns a 127.0.0.1:PORT that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Server is a flowbot serve process on a fixed loopback address. Start it,
// Kill it (SIGKILL) and Start it again: it comes back on the same address
// with the same arguments, so on the same files.
type Server struct {
	// Bin is the flowbot binary.
	Bin string
	// Addr is the HOST:PORT it listens on (FreeAddr).
	Addr string
	// Args follow "serve --addr ADDR".
	Args []string
	// Env is added to the harness's environment.
	Env []string
	// LogPath receives the process's stdout and stderr, appended across
	// starts (each start is marked); empty discards them.
	LogPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has been waited for
	log    *os.File
	starts int
}

// URL returns the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// Starts returns how many times the process was started.
func (s *Server) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// PID returns the running process's id, or 0.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the process was started and has not exited.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Start starts the process and waits until GET /healthz answers 200, or
// timeout. A process that exits before is an error (with its log's tail).
func (s *Server) Start(timeout time.Duration) error {
	s.mu.Lock()
	if s.done != nil {
		select {
		case <-s.done:
		default:
			s.mu.Unlock()
			return errors.New("harness: flowbot is already running")
		}
	}
	var out io.Writer = io.Discard
	if s.LogPath != "" {
		if s.log == nil {
			f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				s.mu.Unlock()
				return err
			}
			s.log = f
		}
		out = s.log
		fmt.Fprintf(s.log, "=== harness: start %d at %s ===\n", s.starts+1, time.Now().Format(time.RFC3339Nano))
	}
	cmd := exec.Command(s.Bin, append([]string{"serve", "--addr", s.Addr}, s.Args...)...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	s.starts++
	s.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("harness: flowbot serve exited at start (%v); log tail:\n%s", cmd.ProcessState, s.tail(2000))
		default:
		}
		resp, err := client.Get(s.URL() + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("harness: flowbot serve not ready after %s; log tail:\n%s", timeout, s.tail(2000))
}

// tail returns the last n bytes of the log file.
func (s *Server) tail(n int64) string {
	if s.LogPath == "" {
		return "(no log file)"
	}
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// Kill sends SIGKILL and waits for the process to be gone. Killing a
// stopped server does nothing.
func (s *Server) Kill() error {
	return s.signal(syscall.SIGKILL, 10*time.Second)
}

// Stop sends SIGTERM (a graceful shutdown) and waits up to timeout, then
// kills.
func (s *Server) Stop(timeout time.Duration) error {
	if err := s.signal(syscall.SIGTERM, timeout); err != nil {
		return s.Kill()
	}
	return nil
}

func (s *Server) signal(sig syscall.Signal, timeout time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("harness: flowbot did not exit %s after %v", timeout, sig)
	}
}

// ExitState describes how the last process ended ("" while it runs or
// before any).
func (s *Server) ExitState() string {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return ""
	}
	select {
	case <-done:
		return cmd.ProcessState.String()
	default:
		return ""
	}
}

// Close kills the process if it runs and closes the log file.
func (s *Server) Close() {
	s.Kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log != nil {
		s.log.Close()
		s.log = nil
	}
}

// ProcStats are a process's figures from /proc.
type ProcStats struct {
	RSS     int64         // VmRSS, bytes
	HWM     int64         // VmHWM (peak RSS), bytes
	CPU     time.Duration // utime + stime
	Threads int
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// ReadProc reads pid's memory and CPU time from /proc (Linux).
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return st, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			st.RSS = n << 10
		case "VmHWM":
			st.HWM = n << 10
		case "Threads":
			st.Threads = int(n)
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return st, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return st, fmt.Errorf("harness: /proc/%d/stat: unexpected %q", pid, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("harness: /proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stt, _ := strconv.ParseInt(f[12], 10, 64)
	st.CPU = time.Duration(ut+stt) * time.Second / clockTicks
	return st, nil
}

// WaitCtx sleeps for d or until ctx is done; it reports whether the whole
// d passed.
func WaitCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// MiB formats bytes as mebibytes.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

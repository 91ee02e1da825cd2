package script

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// Host runs programs on pooled runtimes. The zero value is ready to use;
// Shared is the one a process uses for every flow and version.
type Host struct {
	Timeout time.Duration // per call, when the Input sets none; DefaultTimeout when zero
	Memory  int64         // per call, when the Input sets none; DefaultMemory when zero
	once    sync.Once
	idle    chan *vm // warm runtimes; unlike sync.Pool, not emptied by GC
	built   atomic.Int64
}

// shared is the process-wide host.
var shared Host

// Shared returns the process-wide host: one pool of runtimes for every
// flow and every version of it, as k6 keeps one per test.
func Shared() *Host { return &shared }

// MaxIdle is how many warm runtimes a Host keeps. A warm runtime holds
// about 0.5 MB (measured by TestPoolSize), so a full pool is about 32 MB.
const MaxIdle = 64

// Stats reports how many runtimes the host has built and how many are idle.
func (h *Host) Stats() (built, idle int) {
	h.once.Do(h.init)
	return int(h.built.Load()), len(h.idle)
}

func (h *Host) init() { h.idle = make(chan *vm, MaxIdle) }

// limits resolves a run's time limit and memory budget.
func (h *Host) limits(in Input) (time.Duration, int64) {
	timeout, memory := in.Timeout, in.Memory
	if timeout <= 0 {
		timeout = h.Timeout
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if memory <= 0 {
		memory = h.Memory
	}
	if memory <= 0 {
		memory = DefaultMemory
	}
	return timeout, memory
}

func (h *Host) get() *vm {
	h.once.Do(h.init)
	select {
	case v := <-h.idle:
		return v
	default:
		h.built.Add(1)
		return newVM()
	}
}

// refill adds a fresh runtime to the pool if it has room.
func (h *Host) refill() {
	h.once.Do(h.init)
	if len(h.idle) < cap(h.idle) {
		h.built.Add(1)
		h.put(newVM())
	}
}

func (h *Host) put(v *vm) {
	select {
	case h.idle <- v:
	default: // enough warm runtimes already
	}
}

// vm is one pooled runtime and the run it is serving. Only the fields
// below "per run" change between runs, and begin resets all of them.
type vm struct {
	rt          *goja.Runtime
	g           *guards                         // the runtime's native-call guards (sandbox.go)
	fns         map[*goja.Program]goja.Callable // compiled programs, by program
	safeMessage goja.Callable                   // the prelude's: a thrown value as text (prelude.go)
	say         goja.Value                      // frozen, shared by every run
	act         goja.Value                      // frozen, shared by every run
	host        goja.Value                      // the rewritten code's helpers (rewrite.go), frozen
	json        goja.Callable                   // the guarded JSON.stringify, for act payloads
	forget      goja.Callable                   // resets goja's last-string cache (prelude.go)

	// per run
	now      time.Time
	rng      uint64 // splitmix64 state for Math.random
	said     []string
	acts     []Act
	limitErr error       // set when an output cap stopped the run
	thrown   string      // what the script threw, as text made inside the run
	halted   atomic.Bool // interrupted (time or memory): native loops bail out
	broken   bool        // a Go panic was recovered: do not reuse
	joining  []*goja.Object
}

func newVM() *vm {
	v := &vm{rt: goja.New(), fns: map[*goja.Program]goja.Callable{}}
	v.rt.SetMaxCallStackSize(MaxCallStack)
	v.rt.SetTimeSource(func() time.Time { return v.now })
	v.rt.SetRandSource(v.random)
	v.rt.SetFieldNameMapper(goja.UncapFieldNameMapper())
	v.sandbox()
	return v
}

// begin resets the per-run state.
func (v *vm) begin(in Input) {
	v.now, v.rng = in.Now, in.Seed
	v.said, v.acts, v.limitErr, v.thrown, v.joining = nil, nil, nil, "", v.joining[:0]
	v.halted.Store(false)
}

// end forgets the run's outputs and texts.
func (v *vm) end() { v.said, v.acts, v.thrown, v.limitErr = nil, nil, "", nil }

// forgetText resets goja's cache of the last string whose property was
// read, so that a runtime going back to the pool keeps no run's text.
func (v *vm) forgetText() {
	if v.forget != nil {
		_, _ = v.forget(goja.Undefined())
	}
}

// halt stops the running script: at its next instruction, and native loops
// of the sandbox's guards at their next check.
func (v *vm) halt(reason error) {
	v.halted.Store(true)
	v.rt.Interrupt(reason)
}

// random is Math.random: splitmix64 over the run's seed.
func (v *vm) random() float64 {
	v.rng += 0x9e3779b97f4a7c15
	z := v.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

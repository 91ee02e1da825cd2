package script

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// goja has no memory limit, so the sandbox keeps one in two layers:
//
//  1. Native calls that could allocate much in one step (repeat, join,
//     replace, JSON, array fills, typed arrays) are checked before they run
//     and refused with a RangeError (sandbox.go).
//  2. What a script builds step by step (strings doubled in a loop, arrays
//     pushed to) is watched: while any script runs, a watcher reads the
//     bytes the process has allocated (runtime/metrics, a counter that only
//     grows) every WatchPeriod, and interrupts each run during which more
//     than that run's budget was allocated.
//
// Allocation is counted rather than the heap's size because the heap
// shrinks whenever the collector frees the garbage of earlier work, which
// would hide a run's growth; counting allocation stops a doubling string
// at its first steps, before one copy of it takes long enough to stall the
// whole process. The counter is the process's: other work allocating at
// the same moment counts against the runs in progress. Budgets are set
// well above what a script needs (DefaultMemory; a typical run allocates a
// few kilobytes), and a run stopped by its budget takes its flow's error
// path like any other script error.

// The watcher can only stop a run if it gets a processor: a goroutine
// running JavaScript yields only when the Go scheduler preempts it (every
// 10 ms), and a string doubled in a loop grows a thousandfold in less. So
// at most RunSlots scripts run at once — one processor fewer than the
// process has (at least one) — which leaves a processor for the watcher
// and the rest of the server. Scripts take microseconds; a run waits for a
// slot only behind scripts that are themselves bounded by their limits.

// RunSlots is how many scripts run at once in this process.
var RunSlots = max(1, runtime.GOMAXPROCS(0)-1)

// slots is the process's run semaphore.
var slots = runSlots{ch: make(chan struct{}, RunSlots)}

type runSlots struct{ ch chan struct{} }

func (s runSlots) acquire(ctx context.Context) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s runSlots) release() { <-s.ch }

// WatchPeriod is how often the watcher reads the heap while scripts run.
const WatchPeriod = 250 * time.Microsecond

// watcher tracks the runs in progress and their heap baselines.
type watcher struct {
	mu      sync.Mutex
	runs    map[*vm]watched
	running bool   // the watching goroutine is alive
	heap    uint64 // the last reading of heapBytes, while running
}

type watched struct {
	start  uint64 // heap bytes when the run began
	budget uint64
	over   bool
}

var watch = watcher{runs: map[*vm]watched{}}

// allocMetric is the runtime metric the watcher reads: every byte the
// process has allocated on the heap since it started.
const allocMetric = "/gc/heap/allocs:bytes"

// heapBytes reads the bytes allocated so far.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: allocMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// add starts watching a run.
func (w *watcher) add(v *vm, budget int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running {
		w.running = true
		w.heap = heapBytes()
		go w.loop()
	}
	w.runs[v] = watched{start: w.heap, budget: uint64(budget)}
}

// remove stops watching a run and reports whether it went over budget.
// After remove returns, the watcher no longer touches v.
func (w *watcher) remove(v *vm) (over bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	over = w.runs[v].over
	delete(w.runs, v)
	return over
}

// idleTicks is how many empty readings the watcher waits before it stops.
const idleTicks = 800 // 200 ms

func (w *watcher) loop() {
	t := time.NewTicker(WatchPeriod)
	defer t.Stop()
	idle := 0
	for range t.C {
		heap := heapBytes()
		w.mu.Lock()
		w.heap = heap
		if len(w.runs) == 0 {
			idle++
			if idle >= idleTicks {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			continue
		}
		idle = 0
		for v, r := range w.runs {
			if !r.over && heap > r.start && heap-r.start > r.budget {
				r.over = true
				w.runs[v] = r
				v.halt(errMemory)
			}
		}
		w.mu.Unlock()
	}
}

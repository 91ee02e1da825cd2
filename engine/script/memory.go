package script

import (
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
//     process heap every WatchPeriod and interrupts each run during which
//     the heap grew by more than that run's budget.
//
// The heap is the process's, not the run's: other work allocating at the
// same moment counts against the runs in progress. Budgets are therefore
// set well above what a script needs (DefaultMemory is 32 MiB; a typical
// run allocates a few kilobytes), and a run stopped by its budget takes its
// flow's error path like any other script error.

// WatchPeriod is how often the watcher reads the heap while scripts run.
const WatchPeriod = time.Millisecond

// watcher tracks the runs in progress and their heap baselines.
type watcher struct {
	mu      sync.Mutex
	runs    map[*vm]*watched
	running bool   // the watching goroutine is alive
	heap    uint64 // the last reading, while running
}

type watched struct {
	start  uint64 // heap bytes when the run began
	budget uint64
	over   bool
}

var watch = watcher{runs: map[*vm]*watched{}}

// heapSample names the runtime metrics the watcher reads: live and unswept
// heap objects, and goroutine stacks (deep native recursion grows those).
var heapSample = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes"}

// heapBytes reads the process heap: objects and stacks.
func heapBytes() uint64 {
	s := make([]metrics.Sample, len(heapSample))
	for i, n := range heapSample {
		s[i].Name = n
	}
	metrics.Read(s)
	var total uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			total += x.Value.Uint64()
		}
	}
	return total
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
	w.runs[v] = &watched{start: w.heap, budget: uint64(budget)}
}

// remove stops watching a run and reports whether it went over budget.
// After remove returns, the watcher no longer touches v.
func (w *watcher) remove(v *vm) (over bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.runs[v]; r != nil {
		over = r.over
		delete(w.runs, v)
	}
	return over
}

// idleTicks is how many empty readings the watcher waits before it stops.
const idleTicks = 200

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
				v.halt(errMemory)
			}
		}
		w.mu.Unlock()
	}
}

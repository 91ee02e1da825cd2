package turnlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowbot/flowbot/channels"
	"github.com/flowbot/flowbot/runtime/turn"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 100 << 20 // a file is rotated when it would grow past 100 MiB
	DefaultKeep     = 10        // rotated files kept beside the current one
	DefaultQueue    = 4096      // lines waiting to be written before new ones are dropped
)

// KindDropped is the line a Writer writes after it had to drop lines:
// {"kind":"dropped","count":N}, N lines since the last such line.
const KindDropped = "dropped"

// CurrentName is the file a Writer writes in a folder; rotated files are
// named turns-TIME.jsonl beside it.
const CurrentName = "turns.jsonl"

// Options configure a Writer.
type Options struct {
	// PersonalData keeps texts, variables and bodies in the log (for
	// debugging); false redacts them (the encoder redacts as it writes).
	PersonalData bool
	// MaxBytes rotates the file when a line would make it bigger;
	// 0: DefaultMaxBytes.
	MaxBytes int64
	// Keep is how many rotated files are kept (the oldest are removed);
	// 0: DefaultKeep.
	Keep int
	// Queue is how many lines may wait for the writing goroutine; a line
	// that finds the queue full is dropped and counted. 0: DefaultQueue.
	Queue int
	// Now is the clock of the lines' At; nil: time.Now.
	Now func() time.Time
	// Logger reports write errors; nil: slog.Default().
	Logger *slog.Logger
}

// Writer writes turns to a log file (a turn.Observer). It is safe for
// concurrent use; Close flushes it.
type Writer struct {
	path    string // the current file
	opts    Options
	mu      sync.Mutex
	queue   []item             // turns waiting for the writing goroutine
	wake    chan struct{}      // a half-full queue wakes the writing goroutine early
	flushes chan chan struct{} // Flush's requests
	done    chan struct{}      // closed by Close
	stopped chan struct{}      // closed when the writing goroutine is done
	dropped atomic.Int64
	failed  atomic.Int64
	closing sync.Once

	// Owned by the writing goroutine.
	f        *os.File
	buf      *bufio.Writer // lines are written to the file in batches (writeBuffer)
	size     int64
	seen     map[versionKey]bool // flow versions whose source is in the current file
	reported int64               // dropped lines already reported in the log
	warned   time.Time           // when dropped lines were last logged
	enc      enc                 // makes the lines, in the buffers it keeps; its redactor (nil with PersonalData) keeps recent values' hashes
}

// versionKey names a flow version in Writer.seen.
type versionKey struct{ flow, version string }

// item is one turn to log. The turn's request and outcome are copied; the
// data they point to is never changed once turn.Run has returned, so the
// line is made on the writing goroutine. What the line does not need (the
// contexts, the rendering) is left out, so that the turn's garbage is not
// kept alive while it waits.
type item struct {
	req turn.Request
	out turn.Outcome
	at  time.Time
}

// wakeAt is how many waiting turns wake the writing goroutine before its
// tick (or half the queue, if smaller): a short wait keeps little of the
// turns' data alive, which the garbage collector would otherwise go
// through again and again.
const wakeAt = 256

// writeBuffer is how many bytes of lines may be written to the file at
// once: a batch of waiting turns (wakeAt lines of about 1 KiB) is one
// system call, not one per line.
const writeBuffer = 1 << 20

// FlushEvery is how often the writing goroutine takes the queued turns
// and writes them: a turn's line is in the file at most this long after
// the turn (Flush or Close write at once).
const FlushEvery = 100 * time.Millisecond

// Open starts a Writer. path is a folder (it exists, or ends with a
// slash: the log is path/turns.jsonl) or a file.
func Open(path string, opts Options) (*Writer, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	file := path
	if st, err := os.Stat(path); (err == nil && st.IsDir()) || strings.HasSuffix(path, string(os.PathSeparator)) || strings.HasSuffix(path, "/") {
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("turn log: cannot create the folder: %w", err)
		}
		file = filepath.Join(path, CurrentName)
	}
	w := &Writer{path: file, opts: opts, queue: make([]item, 0, min(opts.Queue, 2*wakeAt)),
		wake: make(chan struct{}, 1), flushes: make(chan chan struct{}), done: make(chan struct{}), stopped: make(chan struct{})}
	if !opts.PersonalData {
		w.enc.red = &redactor{cache: map[string]string{}}
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	go w.loop()
	return w, nil
}

// Path is the file being written.
func (w *Writer) Path() string { return w.path }

// Dropped is how many lines were dropped because the queue was full.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Failed is how many lines could not be written (a disk error).
func (w *Writer) Failed() int64 { return w.failed.Load() }

// Observe logs a completed turn: it is queued, and its line made and
// written by the writing goroutine; a full queue drops it (Dropped). The
// turn never waits for the disk, nor wakes the writing goroutine (but
// when wakeAt turns, or half the queue, wait).
func (w *Writer) Observe(r *turn.Request, o *turn.Outcome) {
	if o.Bot == nil {
		return
	}
	at := w.opts.Now()
	w.mu.Lock()
	n, limit := len(w.queue), w.opts.Queue
	if n >= limit {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.queue = append(w.queue, item{req: *r, out: *o, at: at})
	it := &w.queue[n]
	it.req.Context, it.req.Session, it.out.Context, it.out.Rendered = nil, nil, nil, channels.Rendered{}
	w.mu.Unlock()
	if n+1 == min(limit/2, wakeAt) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// line is the turn's line, redacted unless PersonalData, in a buffer
// the next line reuses.
func (w *Writer) line(it *item) ([]byte, error) {
	rec := New(&it.req, &it.out, it.at)
	e := &w.enc
	e.b, e.err = e.b[:0], nil
	if e.red != nil {
		e.red.changed = false
	}
	e.record(&rec)
	return e.b, e.err
}

// Flush waits until every turn queued so far is written to the file.
func (w *Writer) Flush() {
	ch := make(chan struct{})
	select {
	case w.flushes <- ch:
		select {
		case <-ch:
		case <-w.stopped:
		}
	case <-w.stopped:
	}
}

// Close writes what is queued and closes the file. Turns observed after
// Close are dropped.
func (w *Writer) Close() error {
	w.closing.Do(func() {
		close(w.done)
		<-w.stopped
	})
	if w.failed.Load() > 0 {
		return fmt.Errorf("turn log: %d line(s) could not be written to %s", w.failed.Load(), w.path)
	}
	return nil
}

// loop writes the queued turns every FlushEvery, when woken, on Flush,
// and on Close.
func (w *Writer) loop() {
	defer close(w.stopped)
	tick := time.NewTicker(FlushEvery)
	defer tick.Stop()
	var batch []item
	for {
		var flushed chan struct{}
		closing := false
		select {
		case <-tick.C:
		case <-w.wake:
		case flushed = <-w.flushes:
		case <-w.done:
			closing = true
		}
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		if closing {
			w.opts.Queue = 0 // later turns are dropped
		}
		w.mu.Unlock()
		for i := range batch {
			w.handle(&batch[i])
			batch[i] = item{} // let the turn's data go
		}
		if err := w.buf.Flush(); err != nil {
			w.failed.Add(1)
			w.opts.Logger.Error("turn log: cannot write", "file", w.path, "error", err.Error())
		}
		if flushed != nil {
			close(flushed)
		}
		if closing {
			w.f.Close()
			return
		}
	}
}

// handle writes one turn's line, after a line counting the turns dropped
// since the last one, and before it its version's source if the file
// does not have it yet.
func (w *Writer) handle(it *item) {
	if n := w.dropped.Load(); n > w.reported {
		b, _ := json.Marshal(map[string]any{"kind": KindDropped, "count": n - w.reported})
		w.write(b)
		w.reported = n
		if now := w.opts.Now(); now.Sub(w.warned) >= time.Minute {
			w.warned = now
			w.opts.Logger.Warn("turn log: lines dropped, the queue was full (the disk is too slow?); flowbot_turn_log_dropped_total counts them", "file", w.path, "dropped", n)
		}
	}
	line, err := w.line(it)
	if err != nil {
		w.failed.Add(1)
		w.opts.Logger.Error("turn log: cannot make a line", "error", err.Error())
		return
	}
	f := it.out.Bot.Flow()
	if key := (versionKey{f.Name, f.ShortHash()}); !w.seen[key] {
		b, _ := json.Marshal(Version{Kind: KindVersion, Flow: f.Name, Version: f.ShortHash(), File: f.File, Source: string(f.Source)})
		if w.size+int64(len(b)+len(line)+2) > w.opts.MaxBytes && w.size > 0 {
			w.rotate()
		}
		w.write(b)
		w.seen[key] = true
	}
	w.write(line)
}

// write writes one line, rotating first when it would not fit.
func (w *Writer) write(line []byte) {
	if w.size+int64(len(line)+1) > w.opts.MaxBytes && w.size > 0 {
		w.rotate()
	}
	n, err := w.buf.Write(line)
	if err == nil {
		err = w.buf.WriteByte('\n')
		n++
	}
	w.size += int64(n)
	if err != nil {
		w.failed.Add(1)
		w.opts.Logger.Error("turn log: cannot write", "file", w.path, "error", err.Error())
	}
}

// open opens the current file for appending.
func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("turn log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("turn log: %w", err)
	}
	w.f, w.buf, w.size, w.seen = f, bufio.NewWriterSize(f, writeBuffer), st.Size(), map[versionKey]bool{}
	return nil
}

// rotate renames the current file to NAME-TIME.EXT, opens a new one (which
// gets its own version lines), and removes the oldest rotated files
// beyond Keep.
func (w *Writer) rotate() {
	w.buf.Flush()
	w.f.Close()
	ext := filepath.Ext(w.path)
	base := strings.TrimSuffix(w.path, ext)
	rotated := base + "-" + w.opts.Now().UTC().Format("20060102T150405.000000000Z") + ext
	if err := os.Rename(w.path, rotated); err != nil {
		w.opts.Logger.Error("turn log: cannot rotate", "file", w.path, "error", err.Error())
	}
	if err := w.open(); err != nil {
		w.opts.Logger.Error("turn log: cannot reopen after rotating", "file", w.path, "error", err.Error())
		// Keep writing into a discarded buffer rather than crash a turn.
		w.f, _ = os.Open(os.DevNull)
		w.buf = bufio.NewWriter(discard{})
	}
	old, _ := filepath.Glob(base + "-*" + ext)
	sort.Strings(old)
	for len(old) > w.opts.Keep {
		os.Remove(old[0])
		old = old[1:]
	}
}

// discard swallows writes.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

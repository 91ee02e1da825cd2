// Package script runs the JavaScript steps of flows in goja, sandboxed.
//
// A script is compiled once, when its flow loads, wrapped in a strict-mode
// function so that it declares no globals:
//
//	(function(event, vars, contact, channel, bot, say, act) { "use strict"; …your code… })
//
// It runs on a pooled runtime whose global objects are frozen, so nothing a
// script does can leak into another conversation. There is no require, no
// file system, no network and no timers. Each call has a time limit (driven
// by a context, enforced with Interrupt), a bounded call stack, capped
// inputs and outputs, and a deterministic clock and random source.
package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/flowbot/flowbot/flows"
)

// Limits of one script call.
const (
	DefaultTimeout = 100 * time.Millisecond
	MaxCallStack   = 256
	MaxSays        = 20
	MaxActs        = 20
	MaxTextLen     = 5000    // characters of one said text or variable
	MaxStringBytes = 1 << 20 // longest string repeat/padStart/padEnd may build
)

const prefix = `(function(event, vars, contact, channel, bot, say, act) { "use strict"; `

// Program is a compiled script. It is safe to share between goroutines.
type Program struct {
	prog   *goja.Program
	script *flows.Script
}

// Error is a script failure with its position in the flow (or .js) file.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string // e.g. "TypeError: Cannot read property 'x' of undefined"
	Kind   string // syntax, exception, timeout, stack, limit
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Is makes errors.Is(err, ErrTimeout) true for a script stopped by its
// time limit, so that callers can count time-outs apart.
func (e *Error) Is(target error) bool { return target == ErrTimeout && e.Kind == "timeout" }

// Compile compiles a flow's script.
func Compile(sc *flows.Script) (*Program, error) {
	src := prefix + sc.Source + "\n})"
	ast, err := parser.ParseFile(nil, sc.File, src, 0)
	var prog *goja.Program
	if err == nil {
		prog, err = goja.CompileAST(ast, true)
	}
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			line, col := mapPos(sc, list[0].Position.Line, list[0].Position.Column)
			return nil, &Error{File: sc.File, Line: line, Column: col, Msg: "SyntaxError: " + list[0].Message, Kind: "syntax"}
		}
		var se *goja.CompilerSyntaxError
		if errors.As(err, &se) && se.File != nil {
			pos := se.File.Position(se.Offset)
			line, col := mapPos(sc, pos.Line, pos.Column)
			return nil, &Error{File: sc.File, Line: line, Column: col, Msg: "SyntaxError: " + se.Message, Kind: "syntax"}
		}
		return nil, &Error{File: sc.File, Line: sc.Line, Column: sc.Column, Msg: "SyntaxError: " + err.Error(), Kind: "syntax"}
	}
	return &Program{prog: prog, script: sc}, nil
}

// mapPos turns a position in the wrapped source into one in the flow file.
func mapPos(sc *flows.Script, line, col int) (int, int) {
	if line <= 1 {
		c := col - len(prefix)
		if c < 1 {
			c = 1
		}
		return sc.Line, sc.Column + c - 1
	}
	return sc.Line + line - 1, sc.Indent + col
}

// Input is what a script sees.
type Input struct {
	Event   map[string]any
	Vars    map[string]string
	Contact map[string]string
	Channel string
	Bot     map[string]string
	Now     time.Time
}

// Act is a platform action a script asked for.
type Act struct {
	Name    string
	Payload map[string]any
}

// Output is what a script produced.
type Output struct {
	Vars map[string]string // the variables after the script (all of them)
	Say  []string
	Acts []Act
	Goto string // the state the script returned, if any
}

// Host runs programs on pooled runtimes. The zero value is ready to use.
type Host struct {
	Timeout time.Duration // per call; DefaultTimeout when zero
	once    sync.Once
	idle    chan *vm // warm runtimes; unlike sync.Pool, not emptied by GC
}

// maxIdle is how many warm runtimes a Host keeps.
const maxIdle = 64

// vm is one pooled runtime and the call it is serving.
type vm struct {
	rt       *goja.Runtime
	fns      map[*goja.Program]goja.Callable
	now      time.Time
	out      *Output
	limitErr error
	say, act goja.Value
}

func (h *Host) get() *vm {
	h.once.Do(func() { h.idle = make(chan *vm, maxIdle) })
	select {
	case v := <-h.idle:
		return v
	default:
		return newVM()
	}
}

func (h *Host) put(v *vm) {
	select {
	case h.idle <- v:
	default: // enough warm runtimes already
	}
}

func newVM() *vm {
	v := &vm{rt: goja.New(), fns: map[*goja.Program]goja.Callable{}}
	v.rt.SetMaxCallStackSize(MaxCallStack)
	v.rt.SetTimeSource(func() time.Time { return v.now })
	v.rt.SetRandSource(rand.New(rand.NewSource(1)).Float64)
	v.rt.SetFieldNameMapper(goja.UncapFieldNameMapper())
	v.say = v.rt.ToValue(func(text string) {
		if len(v.out.Say) >= MaxSays {
			v.limit(fmt.Errorf("say() called more than %d times", MaxSays))
		}
		if utf8.RuneCountInString(text) > MaxTextLen {
			v.limit(fmt.Errorf("say() text longer than %d characters", MaxTextLen))
		}
		v.out.Say = append(v.out.Say, text)
	})
	v.act = v.rt.ToValue(func(name string, payload map[string]any) {
		if len(v.out.Acts) >= MaxActs {
			v.limit(fmt.Errorf("act() called more than %d times", MaxActs))
		}
		if _, ok := flows.PlatformActions[name]; !ok {
			panic(v.rt.NewTypeError("act(): unknown action %q", name))
		}
		if payload == nil {
			payload = map[string]any{}
		}
		v.out.Acts = append(v.out.Acts, Act{Name: name, Payload: payload})
	})
	capString := func(name string) {
		// Native string builders ignore Interrupt: cap what they may build.
		proto := v.rt.Get("String").ToObject(v.rt).Get("prototype").ToObject(v.rt)
		orig, _ := goja.AssertFunction(proto.Get(name))
		proto.Set(name, func(call goja.FunctionCall) goja.Value {
			this := call.This.String()
			n := call.Argument(0).ToInteger()
			if name == "repeat" && int64(len(this))*n > MaxStringBytes || name != "repeat" && n > MaxStringBytes {
				panic(v.rt.NewTypeError("%s(): result over %d bytes", name, MaxStringBytes))
			}
			res, err := orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			return res
		})
	}
	for _, n := range []string{"repeat", "padStart", "padEnd"} {
		capString(n)
	}
	_, err := v.rt.RunString(hardenJS)
	if err != nil {
		panic("script: cannot harden runtime: " + err.Error())
	}
	return v
}

// limit stops the call because an output cap was exceeded.
func (v *vm) limit(err error) {
	v.limitErr = err
	v.rt.Interrupt(err)
}

// hardenJS freezes every object reachable from the global object, so a
// script can neither leave globals behind nor change built-in prototypes.
const hardenJS = `(function () {
  delete globalThis.eval;
  const seen = new Set();
  function freeze(o) {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    Object.freeze(o);
    for (const k of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (d && "value" in d) freeze(d.value);
      if (d && d.get) freeze(d.get);
      if (d && d.set) freeze(d.set);
    }
    freeze(Object.getPrototypeOf(o));
  }
  freeze(globalThis);
})();`

// ErrTimeout is the cause of a call stopped by its time limit.
var ErrTimeout = errors.New("script time limit exceeded")

// Run calls a program. ctx bounds its time (Host.Timeout applies too).
func (h *Host) Run(ctx context.Context, p *Program, in Input) (Output, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	v := h.get() // building a runtime does not count against the script's time
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := Output{}
	v.out, v.now, v.limitErr = &out, in.Now, nil
	stop := context.AfterFunc(ctx, func() { v.rt.Interrupt(ErrTimeout) })
	res, err := v.call(p, in)
	stopped := !stop()
	v.out = nil
	if err != nil || stopped {
		// A runtime that was interrupted or overflowed is not reused.
		v.rt.ClearInterrupt()
		if err == nil {
			err = ErrTimeout
		}
		return Output{}, h.describe(p, err, v.limitErr)
	}
	h.put(v)
	out.Goto = res.goTo
	out.Vars = res.vars
	return out, nil
}

type callResult struct {
	goTo string
	vars map[string]string
}

func (v *vm) call(p *Program, in Input) (res callResult, err error) {
	fn, ok := v.fns[p.prog]
	if !ok {
		val, err := v.rt.RunProgram(p.prog)
		if err != nil {
			return res, err
		}
		fn, ok = goja.AssertFunction(val)
		if !ok {
			return res, errors.New("script did not compile to a function")
		}
		v.fns[p.prog] = fn
	}
	vars := v.rt.NewObject()
	for k, val := range in.Vars {
		_ = vars.Set(k, val)
	}
	event := v.rt.ToValue(in.Event)
	contact := v.rt.ToValue(stringMap(in.Contact))
	bot := v.rt.ToValue(stringMap(in.Bot))
	ret, err := fn(goja.Undefined(), event, vars, contact, v.rt.ToValue(in.Channel), bot, v.say, v.act)
	if err != nil {
		return res, err
	}
	if !goja.IsUndefined(ret) && !goja.IsNull(ret) {
		s, ok := ret.Export().(string)
		if !ok {
			return res, fmt.Errorf("a script may return the name of a state (a string), not %s", ret.ExportType())
		}
		res.goTo = s
	}
	res.vars = map[string]string{}
	for _, k := range vars.Keys() {
		val := vars.Get(k)
		switch {
		case val == nil || goja.IsUndefined(val) || goja.IsNull(val):
			continue
		}
		var s string
		switch x := val.Export().(type) {
		case string:
			s = x
		case map[string]any, []any:
			b, err := json.Marshal(x)
			if err != nil {
				return res, fmt.Errorf("vars.%s cannot be stored: %v", k, err)
			}
			s = string(b)
		default:
			s = val.String()
		}
		if utf8.RuneCountInString(s) > MaxTextLen {
			return res, fmt.Errorf("vars.%s is longer than %d characters", k, MaxTextLen)
		}
		res.vars[k] = s
	}
	return res, nil
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// describe turns a goja error into an *Error positioned in the flow file.
func (h *Host) describe(p *Program, err, limitErr error) error {
	sc := p.script
	e := &Error{File: sc.File, Line: sc.Line, Column: sc.Column, Kind: "exception", Msg: err.Error()}
	var ex *goja.Exception
	var intr *goja.InterruptedError
	var so *goja.StackOverflowError
	switch {
	case errors.As(err, &so):
		e.Kind, e.Msg = "stack", fmt.Sprintf("RangeError: call stack deeper than %d frames", MaxCallStack)
	case errors.As(err, &intr):
		if limitErr != nil {
			e.Kind, e.Msg = "limit", limitErr.Error()
		} else {
			e.Kind, e.Msg = "timeout", "script time limit exceeded"
		}
	case errors.As(err, &ex):
		e.Msg = strings.TrimSpace(ex.Value().String())
		for _, f := range ex.Stack() {
			if f.SrcName() == sc.File {
				pos := f.Position()
				e.Line, e.Column = mapPos(sc, pos.Line, pos.Column)
				break
			}
		}
		if errors.Is(err, ErrTimeout) {
			e.Kind, e.Msg = "timeout", "script time limit exceeded"
		}
	case errors.Is(err, ErrTimeout):
		e.Kind, e.Msg = "timeout", "script time limit exceeded"
	}
	return e
}

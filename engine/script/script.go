// Package script runs the JavaScript steps of flows in goja, sandboxed.
//
// A script is compiled once, when its flow loads, wrapped in a strict-mode
// function so that it declares no globals:
//
//	(function(event, vars, contact, channel, bot, say, act) { "use strict"; …your code… })
//
// It runs on a pooled runtime (one pool per process, see Shared). What a run
// can reach is either frozen and shared by every run (the global object, the
// built-ins, say and act) or made fresh for that run (event, vars, contact,
// bot), so nothing a script does survives into the next conversation.
//
// A run is bounded in every dimension a hostile flow or contact text could
// stretch (sandbox.go lists each guard):
//   - time: the script's time limit, enforced with Interrupt; native calls
//     that could run long (regular expressions, joins, JSON, array methods
//     over huge lengths) are capped so that none outlasts the limit by more
//     than a few tens of milliseconds;
//   - memory: a per-run budget, watched while the script runs (memory.go);
//     native calls that could allocate much at once are refused up front;
//   - the call stack, the number and size of messages and actions;
//   - code from strings: there is no eval and no Function constructor;
//   - determinism: Date.now is the turn's time and Math.random is seeded
//     from the turn, so the same turn gives the same answer.
//
// Every failure inside a run, including one raised while flowbot reads the
// script's values back (getters, toString, toJSON, Proxy traps), is an
// *Error with the script's file:line:col; nothing panics out of Run.
package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/flowbot/flowbot/flows"
)

// Limits of one script call. Time and memory have defaults a flow may
// change (flows.ScriptLimits) within what the server allows.
const (
	DefaultTimeout = 100 * time.Millisecond
	DefaultMemory  = 16 << 20 // bytes the process may allocate while one run goes on
	MaxCallStack   = 256
	MaxSays        = 20
	MaxActs        = 20
	MaxTextLen     = 5000    // characters of one said text or variable
	MaxStringBytes = 1 << 20 // longest string one native call may build (repeat, join, replace, JSON)
	MaxArrayLength = 1 << 18 // longest array (or array-like) a native call may walk or build
	MaxArgs        = 1 << 16 // most arguments apply/construct may spread
	MaxJSONDepth   = 256     // deepest nesting JSON.parse and JSON.stringify accept
	MaxRegexpInput = 1 << 18 // longest string (UTF-16 units) a regular expression may scan
	MaxMessage     = 500     // characters of an error message kept
	MaxInputText   = 1 << 16 // characters of any one text a script is given (event, vars, contact, bot)
	MaxStateName   = 64      // characters of a state name a script returns
	MaxPayload     = 20000   // characters of an act() payload, as JSON
	RegexpTimeout  = 50 * time.Millisecond
)

const prefix = `(function(event, vars, contact, channel, bot, say, act, __flowbot) { "use strict"; `

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
	Kind   string // syntax, exception, timeout, memory, stack, limit
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Is makes errors.Is(err, ErrTimeout) true for a script stopped by its
// time limit, so that callers can count time-outs apart.
func (e *Error) Is(target error) bool { return target == ErrTimeout && e.Kind == "timeout" }

// ErrTimeout is the cause of a call stopped by its time limit.
var ErrTimeout = errors.New("script time limit exceeded")

// errMemory is the cause of a call stopped by its memory budget.
var errMemory = errors.New("script memory budget exceeded")

// Compile compiles a flow's script. Syntax the sandbox refuses (BigInt
// literals, whose arithmetic no time limit can stop) is a syntax error too.
func Compile(sc *flows.Script) (*Program, error) {
	src := prefix + sc.Source + "\n})"
	ast, err := parser.ParseFile(nil, sc.File, src, 0)
	var prog *goja.Program
	if err == nil {
		bad := refused(ast)
		if bad == nil {
			bad = rewrite(ast)
		}
		if bad != nil {
			pos := ast.File.Position(int(bad.Idx) - 1)
			line, col := mapPos(sc, pos.Line, pos.Column)
			return nil, &Error{File: sc.File, Line: line, Column: col, Msg: "SyntaxError: " + bad.Msg, Kind: "syntax"}
		}
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

// Input is what a script sees, and the limits of its run.
type Input struct {
	Event   map[string]any
	Vars    map[string]string
	Contact map[string]string
	Channel string
	Bot     map[string]string
	Now     time.Time
	// Seed seeds Math.random for this run; the engine derives it from the
	// conversation and the turn, so a replayed turn draws the same numbers.
	Seed uint64
	// Timeout and Memory bound this run; zero means the Host's defaults.
	Timeout time.Duration
	Memory  int64
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

// Run calls a program. ctx bounds its time (the run's Timeout applies too).
//
// Runs take one of the process's run slots (RunSlots): a run waits for a
// free one first, and the wait does not count against its time limit.
func (h *Host) Run(ctx context.Context, p *Program, in Input) (Output, error) {
	timeout, memory := h.limits(in)
	if err := checkInput(in); err != nil {
		return Output{}, describe(p, err, nil, "")
	}
	if err := slots.acquire(ctx); err != nil {
		return Output{}, describe(p, ErrTimeout, nil, "")
	}
	defer slots.release()
	v := h.get() // building a runtime does not count against the script's time
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v.begin(in)
	stop := context.AfterFunc(ctx, func() { v.halt(ErrTimeout) })
	watch.add(v, memory)
	out, err := v.call(p, in)
	overBudget := watch.remove(v)
	timedOut := !stop()
	var overflow *goja.StackOverflowError
	interrupted := timedOut || overBudget || v.limitErr != nil || errors.As(err, &overflow)
	limitErr, thrown := v.limitErr, v.thrown
	v.end()
	if err == nil && interrupted {
		switch {
		case overBudget:
			err = errMemory
		case timedOut:
			err = ErrTimeout
		default:
			err = limitErr
		}
	}
	if interrupted || v.broken {
		// A runtime that was interrupted or panicked is not reused: an
		// interrupt may have stopped a native call half-way. A fresh one is
		// built in the background, so the next run does not wait for it.
		v.rt.ClearInterrupt()
		go h.refill()
	} else {
		// An exception leaves the runtime as it was: keep it warm, so that a
		// flow whose script keeps failing does not build a runtime per turn.
		v.forgetText()
		h.put(v)
	}
	if err != nil {
		return Output{}, describe(p, err, limitErr, thrown)
	}
	return out, nil
}

// checkInput refuses a run given a text longer than MaxInputText: a
// contact can send a long message, and goja's few unbounded native steps
// (SECURITY.md, known limits) cost in proportion to the text they walk.
func checkInput(in Input) error {
	long := func(what string, s string) error {
		if len(s) > MaxInputText && utf16Len(s) > MaxInputText {
			return fmt.Errorf("RangeError: %s is %d characters, more than the %d a script step is given", what, utf16Len(s), MaxInputText)
		}
		return nil
	}
	var walk func(what string, v any, depth int) error
	walk = func(what string, v any, depth int) error {
		switch x := v.(type) {
		case string:
			return long(what, x)
		case map[string]any:
			if depth > MaxJSONDepth {
				return nil
			}
			for k, e := range x {
				if err := walk(what+"."+k, e, depth+1); err != nil {
					return err
				}
			}
		case []any:
			if depth > MaxJSONDepth {
				return nil
			}
			for _, e := range x {
				if err := walk(what+"[]", e, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("event", in.Event, 0); err != nil {
		return err
	}
	for name, m := range map[string]map[string]string{"vars": in.Vars, "contact": in.Contact, "bot": in.Bot} {
		for k, v := range m {
			if err := long(name+"."+k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// call runs the program on v and reads its results back. vars is a
// Go-backed object of data properties, so reading it runs no script code;
// objects stored in it are converted by the sandbox's JSON.stringify inside
// the runtime, under the run's limits, and so is a thrown value's text.
func (v *vm) call(p *Program, in Input) (out Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			v.broken = true
			out, err = Output{}, fmt.Errorf("the script host failed: %v", r)
		}
	}()
	fn, err := v.function(p)
	if err != nil {
		return out, err
	}
	vars := newVars(in.Vars, v.rt)
	event := v.rt.ToValue(in.Event)
	contact := v.rt.ToValue(stringMap(in.Contact))
	bot := v.rt.ToValue(stringMap(in.Bot))
	ret, err := fn(goja.Undefined(), event, v.rt.NewDynamicObject(vars), contact, v.rt.ToValue(in.Channel), bot, v.say, v.act, v.host)
	if err != nil {
		return out, v.explain(err)
	}
	if ret != nil && !goja.IsUndefined(ret) && !goja.IsNull(ret) {
		s, ok := ret.(goja.String)
		if !ok {
			return out, v.typeError("a script may return the name of a state (a string), not " + kindOf(ret))
		}
		if s.Length() > MaxStateName {
			return out, v.typeError(fmt.Sprintf("a script returned a string of %d characters; a state's name is at most %d", s.Length(), MaxStateName))
		}
		out.Goto = s.String()
	}
	out.Vars = make(map[string]string, len(vars.keys))
	for _, k := range vars.keys {
		s, keep, err := v.stored(k, vars.m[k])
		if err != nil {
			return Output{}, err
		}
		if !keep {
			continue
		}
		if utf8.RuneCountInString(s) > MaxTextLen {
			return Output{}, fmt.Errorf("RangeError: vars.%s is longer than %d characters", k, MaxTextLen)
		}
		out.Vars[k] = s
	}
	out.Say, out.Acts = v.said, v.acts
	return out, nil
}

// stored is a variable's value as flowbot stores it: strings as they are,
// numbers and booleans as text, objects and arrays as JSON; undefined and
// null unset it. Functions and symbols cannot be stored.
func (v *vm) stored(k string, val goja.Value) (s string, keep bool, err error) {
	if val == nil || goja.IsUndefined(val) || goja.IsNull(val) {
		return "", false, nil
	}
	switch x := val.(type) {
	case goja.String:
		return x.String(), true, nil
	case *goja.Symbol:
		return "", false, v.typeError("vars." + k + " is a symbol; store a string, a number, a boolean or a JSON object")
	case *goja.Object:
		if _, isFn := goja.AssertFunction(x); isFn {
			return "", false, v.typeError("vars." + k + " is a function; store a string, a number, a boolean or a JSON object")
		}
		res, err := v.json(goja.Undefined(), x)
		if err != nil {
			return "", false, v.explain(err)
		}
		if goja.IsUndefined(res) {
			return "", false, nil
		}
		return res.String(), true, nil
	default:
		return val.String(), true, nil // a number or a boolean: no script code runs
	}
}

// explain notes, for an exception, its thrown value as text — made inside
// the runtime (the prelude's safeMessage), where a hostile toString is
// bounded by the run's limits — and returns err.
func (v *vm) explain(err error) error {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		msg, merr := v.safeMessage(goja.Undefined(), ex.Value())
		if merr == nil {
			v.thrown = msg.String()
		} else {
			var intr *goja.InterruptedError
			if errors.As(merr, &intr) {
				return merr // stopped while making the text: the run's time or memory ran out
			}
			v.thrown = "an exception that cannot be shown as text"
		}
	}
	return err
}

// typeError is a TypeError of the host's own, positioned at the script.
func (v *vm) typeError(msg string) error {
	v.thrown = "TypeError: " + msg
	return errors.New(v.thrown)
}

// kindOf names a value's type for an error message.
func kindOf(val goja.Value) string {
	switch val.(type) {
	case *goja.Object:
		if o := val.(*goja.Object); o.ClassName() == "Array" {
			return "an array"
		}
		if _, isFn := goja.AssertFunction(val); isFn {
			return "a function"
		}
		return "an object"
	case *goja.Symbol:
		return "a symbol"
	}
	switch val.ExportType().Kind().String() {
	case "bool":
		return "a boolean"
	case "int64", "float64":
		return "a number"
	}
	return "a " + val.ExportType().String()
}

// function returns the program's function on this runtime, compiling it
// into the runtime on first use.
func (v *vm) function(p *Program) (goja.Callable, error) {
	if fn, ok := v.fns[p.prog]; ok {
		return fn, nil
	}
	val, err := v.rt.RunProgram(p.prog)
	if err != nil {
		return nil, err
	}
	fn, ok := goja.AssertFunction(val)
	if !ok {
		return nil, errors.New("script did not compile to a function")
	}
	if len(v.fns) >= maxFunctions {
		clear(v.fns) // flows were reloaded many times: forget the old versions
	}
	v.fns[p.prog] = fn
	return fn, nil
}

// maxFunctions bounds the programs one runtime keeps compiled.
const maxFunctions = 256

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// decodePayload reads an act() payload, which the sandbox's JSON.stringify
// wrote. Numbers become int64 when they are whole and float64 otherwise,
// as goja's own export of a script object gives them.
func decodePayload(s string) (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return plainNumbers(m).(map[string]any), nil
}

// plainNumbers replaces the json.Numbers of a decoded value.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainNumbers(e)
		}
	}
	return v
}

// describe turns a goja error into an *Error positioned in the flow file.
// thrown is the thrown value as text, made inside the run (vm.explain):
// describe never calls script code.
func describe(p *Program, err, limitErr error, thrown string) error {
	sc := p.script
	// err.Error() is never called on a goja exception: it would convert the
	// thrown value to a string, which can run script code outside the run.
	e := &Error{File: sc.File, Line: sc.Line, Column: sc.Column, Kind: "exception"}
	var ex *goja.Exception
	var intr *goja.InterruptedError
	var so *goja.StackOverflowError
	switch {
	case errors.As(err, &so):
		e.Kind, e.Msg = "stack", fmt.Sprintf("RangeError: call stack deeper than %d frames", MaxCallStack)
	case errors.As(err, &intr):
		e.Kind, e.Msg = interruptKind(intr.Value(), limitErr)
	case errors.As(err, &ex):
		e.Msg = thrown
		if e.Msg == "" {
			e.Msg = "uncaught exception"
			if _, isObj := ex.Value().(*goja.Object); !isObj && ex.Value() != nil {
				e.Msg = ex.Value().String() // a primitive: no script code runs
			}
		}
		e.Msg = strings.TrimSpace(e.Msg)
		for _, f := range ex.Stack() {
			if f.SrcName() == sc.File {
				pos := f.Position()
				e.Line, e.Column = mapPos(sc, pos.Line, pos.Column)
				break
			}
		}
		if limitErr != nil {
			e.Kind = "limit"
		}
	case errors.Is(err, ErrTimeout):
		e.Kind, e.Msg = "timeout", ErrTimeout.Error()
	case errors.Is(err, errMemory):
		e.Kind, e.Msg = "memory", errMemory.Error()
	default:
		e.Msg = err.Error() // a Go error of the host's own
	}
	if len(e.Msg) > MaxMessage {
		e.Msg = e.Msg[:MaxMessage] + "…"
	}
	return e
}

// interruptKind names why a run was interrupted.
func interruptKind(reason any, limitErr error) (kind, msg string) {
	switch {
	case reason == errMemory:
		return "memory", errMemory.Error()
	case limitErr != nil:
		return "limit", limitErr.Error()
	default:
		return "timeout", ErrTimeout.Error()
	}
}

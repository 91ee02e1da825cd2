package script

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"

	"github.com/flowbot/flowbot/flows"
)

// The sandbox, guard by guard. Each guard answers one way a script (or the
// contact text it is given) could escape its run's bounds; the hostile
// corpus in sandbox_test.go holds a script for each.
//
// Isolation
//   - Every object reachable from the global object is frozen, built-ins
//     and their prototypes included, and so are say and act (the only host
//     objects shared between runs). event, vars, contact and bot are made
//     fresh for each run.
//   - Math.random is seeded per run (Input.Seed), Date.now is the turn's
//     time; the Symbol registry holds no value a later run can look up
//     without already knowing it.
//
// Code from strings
//   - eval is removed; Function and the generator/async function
//     constructors throw an EvalError wherever they are reached from.
//
// Removed: BigInt (and BigInt literals, refused at compile time), whose
// arithmetic is one uninterruptible native step of any size; ArrayBuffer,
// SharedArrayBuffer, DataView, Atomics and the typed arrays, which allocate
// any size at once. Each throws "X is not available in flow scripts".
//
// Time: goja's Interrupt stops JavaScript at its next instruction but not a
// native call in progress, so native calls are bounded:
//   - regular expressions: the backtracking engine (regexp2, used for
//     look-arounds and back-references, and by goja for every match that
//     starts after position 0) gives a match up after RegexpTimeout; a
//     regular expression call that ran regexpSuspect (half of it) throws
//     a RangeError instead of returning the engine's silent "no match";
//     input is at most MaxRegexpInput characters;
//   - Array.prototype methods refuse a receiver (array or array-like)
//     longer than MaxArrayLength, and sort without a comparator one longer
//     than maxNativeSort; spreading, Array.from and the string iterator
//     likewise; apply and Reflect.apply/construct spread at most MaxArgs;
//   - join is flowbot's own (bounded, cycle-safe, interruptible), flat
//     counts what it would build first, JSON.parse refuses input over
//     MaxStringBytes or nested deeper than MaxJSONDepth, and JSON.stringify
//     counts its output as it goes (a script-level replacer, so the time
//     limit applies too).
//
// Memory: besides the watcher (memory.go), every native call that could
// build a large result in one step is checked first: repeat, padStart,
// padEnd, join, replace and replaceAll, split, JSON.stringify, flat, and
// Array.prototype.fill over a long range.

func init() {
	// goja compiles backtracking patterns with regexp2 at first use; they
	// take this timeout. The check period bounds how late a match notices.
	regexp2.DefaultMatchTimeout = RegexpTimeout
	regexp2.SetTimeoutCheckPeriod(time.Millisecond)
}

// regexpSuspect is how long a regular expression call may run before the
// sandbox treats it as one the backtracking engine gave up on. regexp2's
// clock is approximate (a goroutine updates it every check period, later
// when the machine is busy), so a give-up can come before RegexpTimeout;
// half of it leaves room for that. A call this slow is refused even when
// it did finish: its result cannot be told from a silent give-up.
const regexpSuspect = RegexpTimeout / 2

// maxNativeSort is the longest array sorted without a comparator: goja's
// default comparison converts both elements to strings on every compare.
const maxNativeSort = 1 << 15

// unavailable lists the globals flow scripts do not get.
var unavailable = []string{
	// The Symbol registry outlives a run: a key registered in one run would
	// stay in the pooled runtime's memory (unreadable, but never freed).
	"Symbol.for", "Symbol.keyFor",
	"BigInt", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly",
	"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
	"Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
}

// guards installs the native-call bounds on one runtime.
type guards struct {
	v     *vm
	rt    *goja.Runtime
	match goja.Callable // goja's own RegExp.prototype[Symbol.match], to count matches
	// The guarded RegExp.prototype[Symbol.replace]: its Go body, the
	// function object scripts see, and goja's original.
	rxReplace     native
	rxReplaceFn   goja.Value
	rxReplaceOrig goja.Callable
}

// sandbox prepares a new runtime: guards, host functions, the prelude's
// helpers, and finally freezes everything reachable.
func (v *vm) sandbox() {
	g := &guards{v: v, rt: v.rt}
	g.install()
	v.say = v.rt.ToValue(v.sayFn)
	v.act = v.rt.ToValue(v.actFn)
	prelude, err := v.rt.RunScript("flowbot:sandbox", preludeJS)
	if err != nil {
		panic("script: cannot build the sandbox: " + err.Error())
	}
	setup, _ := goja.AssertFunction(prelude)
	helpers := v.rt.NewObject()
	_ = helpers.Set("unavailableNames", unavailable)
	_ = helpers.Set("say", v.say)
	_ = helpers.Set("act", v.act)
	ret, err := setup(goja.Undefined(), helpers, v.rt.ToValue(MaxStringBytes), v.rt.ToValue(MaxJSONDepth), v.rt.ToValue(MaxMessage), v.rt.ToValue(MaxArrayLength))
	if err != nil {
		panic("script: cannot build the sandbox: " + err.Error())
	}
	fns := ret.ToObject(v.rt)
	v.safeMessage, _ = goja.AssertFunction(fns.Get("safeMessage"))
	v.json, _ = goja.AssertFunction(fns.Get("stringify"))
	if v.safeMessage == nil || v.json == nil {
		panic("script: the sandbox prelude returned no helpers")
	}
}

// sayFn is say(text): one message, within MaxSays and MaxTextLen.
func (v *vm) sayFn(call goja.FunctionCall) goja.Value {
	if len(v.said) >= MaxSays {
		v.refuse("say() called more than %d times", MaxSays)
		return goja.Undefined()
	}
	text := ""
	if a := call.Argument(0); !goja.IsUndefined(a) && !goja.IsNull(a) {
		text = a.String()
	}
	if utf8.RuneCountInString(text) > MaxTextLen {
		v.refuse("say() text longer than %d characters", MaxTextLen)
		return goja.Undefined()
	}
	v.said = append(v.said, text)
	return goja.Undefined()
}

// actFn is act(name, payload): a platform action, its payload as JSON.
func (v *vm) actFn(call goja.FunctionCall) goja.Value {
	if len(v.acts) >= MaxActs {
		v.refuse("act() called more than %d times", MaxActs)
		return goja.Undefined()
	}
	name := call.Argument(0).String()
	if _, ok := flows.PlatformActions[name]; !ok {
		panic(v.rt.NewTypeError(fmt.Sprintf("act(): unknown action %q", name)))
	}
	payload := map[string]any{}
	if p := call.Argument(1); !goja.IsUndefined(p) && !goja.IsNull(p) {
		if _, ok := p.(*goja.Object); !ok {
			panic(v.rt.NewTypeError("act(): the payload must be an object"))
		}
		s, err := v.json(goja.Undefined(), p)
		if err != nil {
			panic(err)
		}
		if js := s.String(); len(js) > MaxPayload {
			panic(g2(v).newError("RangeError", fmt.Sprintf("act(): the payload is %d characters of JSON, more than %d", len(js), MaxPayload)))
		}
		if payload, err = decodePayload(s.String()); err != nil {
			panic(v.rt.NewTypeError("act(): the payload must be a JSON object"))
		}
	}
	v.acts = append(v.acts, Act{Name: name, Payload: payload})
	return goja.Undefined()
}

// g2 gives a vm's error helpers.
func g2(v *vm) *guards { return &guards{v: v, rt: v.rt} }

// refuse stops the run because an output cap was reached.
func (v *vm) refuse(format string, args ...any) {
	v.limitErr = fmt.Errorf(format, args...)
	v.rt.Interrupt(v.limitErr)
}

// thrower is a native function that throws a new error of the named kind.
func (g *guards) thrower(kind, msg string) goja.Value {
	return g.rt.ToValue(func(goja.FunctionCall) goja.Value {
		panic(g.newError(kind, msg))
	})
}

// newError builds an Error of a built-in kind (RangeError, EvalError, …).
func (g *guards) newError(kind, msg string) *goja.Object {
	o, err := g.rt.New(g.rt.Get(kind), g.rt.ToValue(msg))
	if err != nil {
		return g.rt.NewTypeError(msg)
	}
	return o
}

// rangeError throws a RangeError.
func (g *guards) rangeError(format string, args ...any) {
	panic(g.newError("RangeError", fmt.Sprintf(format, args...)))
}

// proto returns a built-in constructor's prototype.
func (g *guards) proto(ctor string) *goja.Object {
	return g.rt.Get(ctor).ToObject(g.rt).Get("prototype").ToObject(g.rt)
}

// native is the body of a guarded function: it checks, then calls orig.
type native func(orig goja.Callable, call goja.FunctionCall) goja.Value

// wrap replaces obj[name] with a guarded version of it.
func (g *guards) wrap(obj *goja.Object, name string, f native) goja.Value {
	orig, ok := goja.AssertFunction(obj.Get(name))
	if !ok {
		return nil
	}
	fn := g.rt.ToValue(func(call goja.FunctionCall) goja.Value { return f(orig, call) })
	_ = obj.DefineDataProperty(name, fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return fn
}

// wrapSymbol replaces obj[sym] with a guarded version of it, and returns
// the new function (nil when obj[sym] is no function).
func (g *guards) wrapSymbol(obj *goja.Object, sym *goja.Symbol, f native) goja.Value {
	orig, ok := goja.AssertFunction(obj.GetSymbol(sym))
	if !ok {
		return nil
	}
	fn := g.rt.ToValue(func(call goja.FunctionCall) goja.Value { return f(orig, call) })
	_ = obj.DefineDataPropertySymbol(sym, fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	if sym == goja.SymReplace {
		g.rxReplaceOrig = orig
	}
	return fn
}

// callOrig calls the original native, rethrowing what it throws.
func callOrig(orig goja.Callable, call goja.FunctionCall) goja.Value {
	res, err := orig(call.This, call.Arguments...)
	if err != nil {
		panic(err)
	}
	return res
}

// length is ToLength(obj.length) for an array or array-like receiver.
func (g *guards) length(this goja.Value) int64 {
	return this.ToObject(g.rt).Get("length").ToInteger()
}

// str converts a value to a JavaScript string (running its toString).
func (g *guards) str(v goja.Value) goja.String {
	if s, ok := v.ToString().(goja.String); ok {
		return s
	}
	s, _ := g.rt.ToValue(v.String()).(goja.String)
	return s
}

// strLen is the length of a value as a string, in UTF-16 units.
func strLen(v goja.Value) int64 {
	if s, ok := v.ToString().(goja.String); ok {
		return int64(s.Length())
	}
	return int64(len(v.String()))
}

// checkLength refuses a receiver longer than max.
func (g *guards) checkLength(what string, n, max int64) {
	if n > max {
		g.rangeError("%s: %d elements are more than the %d a flow script may use", what, n, max)
	}
}

func (g *guards) install() {
	g.arrayMethods()
	g.stringMethods()
	g.regexpMethods()
	g.jsonMethods()
	g.callMethods()
}

// arrayMethods bounds Array.prototype and Array.from.
func (g *guards) arrayMethods() {
	ap := g.proto("Array")
	exempt := map[string]bool{"constructor": true, "push": true, "pop": true, "at": true, "length": true}
	for _, name := range ap.GetOwnPropertyNames() {
		if exempt[name] {
			continue
		}
		what := "Array.prototype." + name
		switch name {
		case "join":
			_ = ap.DefineDataProperty(name, g.rt.ToValue(g.join), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		case "flat":
			g.wrap(ap, name, g.flat)
		case "sort", "toSorted":
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				max := int64(MaxArrayLength)
				if goja.IsUndefined(call.Argument(0)) {
					max = maxNativeSort
				}
				g.checkLength(what, g.length(call.This), max)
				return callOrig(orig, call)
			})
		case "concat":
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				n := g.length(call.This)
				for _, a := range call.Arguments {
					if o, ok := a.(*goja.Object); ok {
						n += o.Get("length").ToInteger()
					}
				}
				g.checkLength(what, n, MaxArrayLength)
				return callOrig(orig, call)
			})
		case "toLocaleString":
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				o := call.This.ToObject(g.rt)
				g.checkLength(what, g.length(o), MaxArrayLength)
				if !g.enter(o) {
					return g.rt.ToValue("")
				}
				defer g.leave()
				return callOrig(orig, call)
			})
		default:
			if _, ok := goja.AssertFunction(ap.Get(name)); !ok {
				continue
			}
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				g.checkLength(what, g.length(call.This), MaxArrayLength)
				return callOrig(orig, call)
			})
		}
	}
	// Array.prototype[Symbol.iterator] is Array.prototype.values.
	_ = ap.DefineDataPropertySymbol(goja.SymIterator, ap.Get("values"), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)

	array := g.rt.Get("Array").ToObject(g.rt)
	g.wrap(array, "from", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		if o, ok := call.Argument(0).(*goja.Object); ok {
			if it := o.GetSymbol(goja.SymIterator); it == nil || goja.IsUndefined(it) {
				g.checkLength("Array.from", o.Get("length").ToInteger(), MaxArrayLength)
			}
		}
		return callOrig(orig, call)
	})
}

// enter marks an array as being converted to a string; false when it is
// already (a cycle). Nesting deeper than MaxJSONDepth is refused.
func (g *guards) enter(o *goja.Object) bool {
	for _, j := range g.v.joining {
		if j == o {
			return false
		}
	}
	if len(g.v.joining) >= MaxJSONDepth {
		g.rangeError("join: arrays nested deeper than %d levels", MaxJSONDepth)
	}
	g.v.joining = append(g.v.joining, o)
	return true
}

func (g *guards) leave() { g.v.joining = g.v.joining[:len(g.v.joining)-1] }

// join is Array.prototype.join, bounded: the result is at most
// MaxStringBytes long, a cycle joins as "", and it stops when halted.
func (g *guards) join(call goja.FunctionCall) goja.Value {
	o := call.This.ToObject(g.rt)
	n := g.length(o)
	g.checkLength("Array.prototype.join", n, MaxArrayLength)
	sep := g.str(g.rt.ToValue(","))
	if a := call.Argument(0); !goja.IsUndefined(a) {
		sep = g.str(a)
	}
	if !g.enter(o) {
		return g.rt.ToValue("")
	}
	defer g.leave()
	var b goja.StringBuilder
	size := 0
	for i := int64(0); i < n; i++ {
		if i > 0 {
			b.WriteString(sep)
			size += sep.Length()
		}
		el := o.Get(fmt.Sprint(i))
		if el != nil && !goja.IsUndefined(el) && !goja.IsNull(el) {
			s := g.str(el)
			b.WriteString(s)
			size += s.Length()
		}
		if size > MaxStringBytes {
			g.rangeError("join: the result would be over %d characters", MaxStringBytes)
		}
		if i&1023 == 1023 && g.v.halted.Load() {
			return g.rt.ToValue("") // the interrupt stops the script next
		}
	}
	return b.String()
}

// flat refuses to build more than MaxArrayLength elements.
func (g *guards) flat(orig goja.Callable, call goja.FunctionCall) goja.Value {
	depth := int64(1)
	if d := call.Argument(0); !goja.IsUndefined(d) {
		f := d.ToFloat()
		switch {
		case f != f || f < 1:
			depth = 0
		case f > MaxJSONDepth:
			depth = MaxJSONDepth
		default:
			depth = int64(f)
		}
	}
	count := int64(0)
	var walk func(o *goja.Object, d int64) bool
	walk = func(o *goja.Object, d int64) bool {
		n := o.Get("length").ToInteger()
		count += n
		g.checkLength("Array.prototype.flat", count, MaxArrayLength)
		if d <= 0 {
			return true
		}
		for i := int64(0); i < n; i++ {
			if g.v.halted.Load() {
				return false
			}
			if el, ok := o.Get(fmt.Sprint(i)).(*goja.Object); ok && el.ClassName() == "Array" && !walk(el, d-1) {
				return false
			}
		}
		return true
	}
	if !walk(call.This.ToObject(g.rt), depth) {
		// Halted: the interrupt stops the script next. goja's flat must not
		// start on what the walk did not finish counting.
		return goja.Undefined()
	}
	args := []goja.Value{g.rt.ToValue(depth)}
	return callOrig(orig, goja.FunctionCall{This: call.This, Arguments: args})
}

// stringMethods bounds String.prototype's builders and iterator.
func (g *guards) stringMethods() {
	sp := g.proto("String")
	g.wrap(sp, "repeat", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		if strLen(call.This)*call.Argument(0).ToInteger() > MaxStringBytes {
			g.rangeError("repeat(): the result would be over %d characters", MaxStringBytes)
		}
		return callOrig(orig, call)
	})
	for _, name := range []string{"padStart", "padEnd"} {
		g.wrap(sp, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			if call.Argument(0).ToInteger() > MaxStringBytes {
				g.rangeError("%s(): the result would be over %d characters", name, MaxStringBytes)
			}
			return callOrig(orig, call)
		})
	}
	for _, name := range []string{"replace", "replaceAll"} {
		all := name == "replaceAll"
		g.wrap(sp, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			if rx, isObj := call.Argument(0).(*goja.Object); isObj {
				if !all && g.rxReplace != nil && rx.GetSymbol(goja.SymReplace) == g.rxReplaceFn {
					// What goja's replace would do — call the RegExp's own
					// (guarded) [Symbol.replace] — without a second hop
					// through goja's call machinery.
					return g.rxReplace(g.rxReplaceOrig, goja.FunctionCall{This: rx, Arguments: []goja.Value{call.This, call.Argument(1)}})
				}
				return callOrig(orig, call) // a RegExp's own [Symbol.replace] is guarded
			}
			s := call.This.ToString().String()
			search := call.Argument(0).String()
			matches := int64(1)
			if all {
				matches = int64(countOccurrences(s, search))
			}
			g.checkReplacement(name, int64(utf16Len(s)), matches, call.Argument(1))
			return callOrig(orig, call)
		})
	}
	g.wrap(sp, "split", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		args := append([]goja.Value{}, call.Arguments...)
		for len(args) < 2 {
			args = append(args, goja.Undefined())
		}
		if goja.IsUndefined(args[1]) || args[1].ToInteger() > MaxArrayLength {
			args[1] = g.rt.ToValue(MaxArrayLength + 1)
		}
		res := callOrig(orig, goja.FunctionCall{This: call.This, Arguments: args})
		if o, ok := res.(*goja.Object); ok && o.Get("length").ToInteger() > MaxArrayLength {
			g.rangeError("split(): more than %d parts", MaxArrayLength)
		}
		return res
	})
	g.wrapSymbol(sp, goja.SymIterator, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		g.checkLength("String.prototype[Symbol.iterator]", strLen(call.This), MaxArrayLength)
		return callOrig(orig, call)
	})
	str := g.rt.Get("String").ToObject(g.rt)
	g.wrap(str, "raw", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		if o, ok := call.Argument(0).(*goja.Object); ok {
			if raw, ok := o.Get("raw").(*goja.Object); ok {
				g.checkLength("String.raw", raw.Get("length").ToInteger(), MaxArrayLength)
			}
		}
		return callOrig(orig, call)
	})
}

// checkReplacement refuses a replace whose result could be over
// MaxStringBytes: matches replacements of repl into a string of n units.
// A replacement function is script code and is bounded by its own results.
func (g *guards) checkReplacement(what string, n, matches int64, repl goja.Value) {
	if _, isFn := goja.AssertFunction(repl); isFn {
		return
	}
	r := repl.String()
	per := int64(utf16Len(r))
	// $` and $' insert up to the whole input, $& and $n a match: count each
	// $ as the whole input, an upper bound.
	per += int64(strings.Count(r, "$")) * n
	if n+matches*per > MaxStringBytes {
		g.rangeError("%s(): the result could be over %d characters", what, MaxStringBytes)
	}
}

// regexpMethods bounds every regular expression operation: input length, and a
// RangeError instead of a silent "no match" when the backtracking engine
// gave up (RegexpTimeout).
func (g *guards) regexpMethods() {
	rp := g.proto("RegExp")
	g.match, _ = goja.AssertFunction(rp.GetSymbol(goja.SymMatch))
	timed := func(what string, replace bool) native {
		return func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			input := call.Argument(0)
			n := strLen(input)
			if n > MaxRegexpInput {
				g.rangeError("%s: the text is %d characters, more than the %d a regular expression may scan", what, n, MaxRegexpInput)
			}
			if _, isFn := goja.AssertFunction(call.Argument(1)); replace && !isFn {
				// A quick upper bound first; count the matches only when it fails.
				matches := int64(1)
				if rx, ok := call.This.(*goja.Object); ok && rx.Get("global").ToBoolean() {
					matches = n + 1
				}
				r := call.Argument(1).String()
				per := int64(utf16Len(r)) + int64(strings.Count(r, "$"))*n
				if n+matches*per > MaxStringBytes {
					g.checkReplacement(what, n, g.countMatches(call.This, input), call.Argument(1))
				}
			}
			start := time.Now()
			res := callOrig(orig, call)
			if time.Since(start) >= regexpSuspect {
				g.rangeError("%s: the regular expression ran for more than %v on %d characters; simplify it (nested repetition such as (a+)+ and look-arounds can take exponential time)", what, regexpSuspect, n)
			}
			return res
		}
	}
	// exec stays goja's own: replacing it would turn off goja's fast path
	// for every regular expression (each global replace would then compile
	// the pattern for the backtracking engine on every run). A direct
	// exec() is bounded in time by RegexpTimeout per call, but a match the
	// backtracking engine gave up on returns null there (SECURITY.md).
	g.wrap(rp, "test", timed("RegExp.prototype.test", false))
	g.wrapSymbol(rp, goja.SymMatch, timed("match", false))
	g.wrapSymbol(rp, goja.SymMatchAll, timed("matchAll", false))
	g.wrapSymbol(rp, goja.SymSearch, timed("search", false))
	g.wrapSymbol(rp, goja.SymSplit, timed("split", false))
	g.rxReplace = timed("replace", true)
	g.rxReplaceFn = g.wrapSymbol(rp, goja.SymReplace, g.rxReplace)
	if g.rxReplaceFn == nil {
		g.rxReplace = nil
	}
	// matchAll's iterator calls exec itself: time each step.
	if it, err := g.rt.RunString(`Object.getPrototypeOf("".matchAll(/x/g))`); err == nil {
		g.wrap(it.ToObject(g.rt), "next", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			start := time.Now()
			res := callOrig(orig, call)
			if time.Since(start) >= regexpSuspect {
				g.rangeError("matchAll: the regular expression ran for more than %v; simplify it (nested repetition such as (a+)+ and look-arounds can take exponential time)", regexpSuspect)
			}
			return res
		})
	}
	_ = rp.DefineDataProperty("compile", g.thrower("TypeError", "RegExp.prototype.compile is not available in flow scripts; create a new RegExp"), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// countMatches counts a global regular expression's matches in s.
func (g *guards) countMatches(rx goja.Value, s goja.Value) int64 {
	rxo, ok := rx.(*goja.Object)
	if !ok {
		return 1
	}
	if !rxo.Get("global").ToBoolean() {
		return 1
	}
	if g.match == nil {
		return 1
	}
	res, err := g.match(rx, s)
	if err != nil {
		panic(err)
	}
	if o, ok := res.(*goja.Object); ok {
		return o.Get("length").ToInteger()
	}
	return 0
}

// jsonMethods bounds JSON.parse (JSON.stringify is bounded in the prelude).
func (g *guards) jsonMethods() {
	j := g.rt.Get("JSON").ToObject(g.rt)
	g.wrap(j, "parse", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		s := call.Argument(0).String()
		if len(s) > MaxStringBytes {
			g.rangeError("JSON.parse: the text is over %d bytes", MaxStringBytes)
		}
		if jsonDepth(s) > MaxJSONDepth {
			g.rangeError("JSON.parse: nested deeper than %d levels", MaxJSONDepth)
		}
		return callOrig(orig, call)
	})
}

// callMethods bounds the argument lists apply and construct spread.
func (g *guards) callMethods() {
	fp := g.proto("Function")
	g.wrap(fp, "apply", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		g.checkArgs("Function.prototype.apply", call.Argument(1))
		return callOrig(orig, call)
	})
	reflect := g.rt.Get("Reflect").ToObject(g.rt)
	g.wrap(reflect, "apply", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		g.checkArgs("Reflect.apply", call.Argument(2))
		return callOrig(orig, call)
	})
	g.wrap(reflect, "construct", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		g.checkArgs("Reflect.construct", call.Argument(1))
		return callOrig(orig, call)
	})
}

func (g *guards) checkArgs(what string, list goja.Value) {
	if o, ok := list.(*goja.Object); ok {
		g.checkLength(what, o.Get("length").ToInteger(), MaxArgs)
	}
}

// jsonDepth is the deepest nesting of brackets in a JSON text (outside
// strings); it reads the text once.
func jsonDepth(s string) int {
	depth, max, inString, escaped := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > max {
				max = depth
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return max
}

// countOccurrences counts non-overlapping occurrences of sub in s, as
// replaceAll replaces them; an empty sub occurs between every character.
func countOccurrences(s, sub string) int {
	if sub == "" {
		return utf16Len(s) + 1
	}
	return strings.Count(s, sub)
}

// utf16Len is the length of s in UTF-16 units, as JavaScript counts it.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

package script

import (
	"fmt"
	"reflect"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

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
	v        *vm
	rt       *goja.Runtime
	describe goja.Callable  // Object.getOwnPropertyDescriptor, as the runtime started
	match    goja.Callable  // goja's own RegExp.prototype[Symbol.match], to count matches
	progSize map[string]int // RE2 program sizes, by source/flags (checkWork)
	// building is set while the sandbox itself is built: its own regular
	// expression calls are not timed (a loaded machine may pause them
	// past regexpSuspect, which says nothing about their work).
	building bool
	// The guarded RegExp.prototype[Symbol.replace]: its Go body, the
	// function object scripts see, and goja's original.
	rxReplace     native
	rxReplaceFn   goja.Value
	rxReplaceOrig goja.Callable
}

// sandbox prepares a new runtime: guards, host functions, the prelude's
// helpers, and finally freezes everything reachable.
func (v *vm) sandbox() {
	g := &guards{v: v, rt: v.rt, building: true}
	v.g = g
	defer func() { g.building = false }()
	g.install()
	v.say = v.rt.ToValue(v.sayFn)
	v.act = v.rt.ToValue(v.actFn)
	prelude, err := v.rt.RunProgram(preludeProgram)
	if err != nil {
		panic("script: cannot build the sandbox: " + err.Error())
	}
	setup, _ := goja.AssertFunction(prelude)
	helpers := v.rt.NewObject()
	_ = helpers.Set("unavailableNames", unavailable)
	_ = helpers.Set("checkPattern", func(call goja.FunctionCall) goja.Value {
		g.checkPattern("RegExp", call.Argument(0).String())
		return goja.Undefined()
	})
	_ = helpers.Set("execGuard", g.execGuard())
	_ = helpers.Set("checkSpread", g.checkSpread)
	_ = helpers.Set("say", v.say)
	_ = helpers.Set("act", v.act)
	ret, err := setup(goja.Undefined(), helpers, v.rt.ToValue(MaxStringBytes), v.rt.ToValue(MaxJSONDepth), v.rt.ToValue(MaxMessage), v.rt.ToValue(MaxArrayLength))
	if err != nil {
		panic("script: cannot build the sandbox: " + err.Error())
	}
	fns := ret.ToObject(v.rt)
	v.safeMessage, _ = goja.AssertFunction(fns.Get("safeMessage"))
	v.json, _ = goja.AssertFunction(fns.Get("stringify"))
	v.forget, _ = goja.AssertFunction(fns.Get("forget"))
	v.host = fns.Get("host")
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
			panic(v.g.newError("RangeError", fmt.Sprintf("act(): the payload is %d characters of JSON, more than %d", len(js), MaxPayload)))
		}
		if payload, err = decodePayload(s.String()); err != nil {
			panic(v.rt.NewTypeError("act(): the payload must be a JSON object"))
		}
	}
	v.acts = append(v.acts, Act{Name: name, Payload: payload})
	return goja.Undefined()
}

// guardCall replaces This and the arguments of a call with checked values.
func guardCall(this goja.Value, args ...goja.Value) goja.FunctionCall {
	return goja.FunctionCall{This: this, Arguments: args}
}

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

// length is ToLength(obj.length) for an array or array-like receiver,
// read so that goja's own read after the check sees the same number: a
// Proxy, or a length that is an accessor (anywhere on the prototype chain)
// or an object (whose valueOf would run again), is refused.
func (g *guards) length(this goja.Value) int64 {
	_, n := g.arrayLike("an array method", this)
	return n
}

// arrayLike is this as an object and its length, checked as length says.
func (g *guards) arrayLike(what string, this goja.Value) (*goja.Object, int64) {
	o := this.ToObject(g.rt)
	if isProxy(o) {
		g.rangeError("%s: not available on a Proxy in flow scripts", what)
	}
	if o.ClassName() == "Array" {
		return o, o.Get("length").ToInteger() // an array's own length is always data
	}
	v, found := g.dataProp(what, o, g.rt.ToValue("length"))
	if !found || goja.IsUndefined(v) {
		return o, 0
	}
	if _, isObj := v.(*goja.Object); isObj {
		g.rangeError("%s: a length that is an object is not available in flow scripts", what)
	}
	return o, v.ToInteger()
}

// dataProp finds key on o or its prototypes and returns its value without
// running script code: an accessor or a Proxy on the way is refused.
func (g *guards) dataProp(what string, o *goja.Object, key goja.Value) (goja.Value, bool) {
	for depth := 0; o != nil; depth++ {
		if isProxy(o) {
			g.rangeError("%s: not available on a Proxy in flow scripts", what)
		}
		if depth > MaxJSONDepth {
			g.rangeError("%s: a prototype chain deeper than %d", what, MaxJSONDepth)
		}
		d, err := g.describe(goja.Undefined(), o, key)
		if err != nil {
			panic(err)
		}
		if dobj, ok := d.(*goja.Object); ok {
			get, set := dobj.Get("get"), dobj.Get("set")
			if (get != nil && !goja.IsUndefined(get)) || (set != nil && !goja.IsUndefined(set)) {
				g.rangeError("%s: %s as a getter is not available in flow scripts", what, key.String())
			}
			return dobj.Get("value"), true
		}
		o = o.Prototype()
	}
	return nil, false
}

// isProxy reports whether o is a Proxy (by its export type: exporting o
// itself could copy a huge array).
func isProxy(o *goja.Object) bool { return o.ExportType() == proxyType }

var proxyType = reflect.TypeOf(goja.Proxy{})

// str converts a value to a JavaScript string (running its toString).
func (g *guards) str(v goja.Value) goja.String {
	if s, ok := v.ToString().(goja.String); ok {
		return s
	}
	s, _ := g.rt.ToValue(v.String()).(goja.String)
	return s
}

// checkLength refuses a receiver longer than max.
func (g *guards) checkLength(what string, n, max int64) {
	if n > max {
		g.rangeError("%s: %d elements are more than the %d a flow script may use", what, n, max)
	}
}

func (g *guards) install() {
	g.progSize = map[string]int{}
	g.describe, _ = goja.AssertFunction(g.rt.Get("Object").ToObject(g.rt).Get("getOwnPropertyDescriptor"))
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
				o, n := g.arrayLike(what, call.This)
				if goja.IsUndefined(call.Argument(0)) {
					// goja compares the elements as strings: bound their text too.
					g.checkLength(what, n, maxNativeSort)
					g.checkText(what, o, n, maxSortText)
				}
				g.checkLength(what, n, MaxArrayLength)
				return callOrig(orig, goja.FunctionCall{This: o, Arguments: call.Arguments})
			})
		case "concat":
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				o, n := g.arrayLike(what, call.This)
				for _, a := range call.Arguments {
					if ao, ok := a.(*goja.Object); ok {
						if ao.ClassName() != "Array" {
							if _, spread := g.dataProp(what, ao, goja.SymIsConcatSpreadable); spread {
								g.rangeError("%s: Symbol.isConcatSpreadable is not available in flow scripts", what)
							}
							continue
						}
						_, m := g.arrayLike(what, ao)
						n += m
					}
				}
				g.checkLength(what, n, MaxArrayLength)
				return callOrig(orig, goja.FunctionCall{This: o, Arguments: call.Arguments})
			})
		case "toLocaleString":
			_ = ap.DefineDataProperty(name, g.rt.ToValue(g.toLocaleString), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		case "indexOf", "lastIndexOf", "includes":
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				o, n := g.arrayLike(what, call.This)
				g.checkLength(what, n, MaxArrayLength)
				if s, ok := call.Argument(0).(goja.String); ok && s.Length() > 64 {
					// Comparing long strings costs their length each time.
					g.checkText(what, o, n, maxCompareText)
				}
				return callOrig(orig, goja.FunctionCall{This: o, Arguments: call.Arguments})
			})
		default:
			if _, ok := goja.AssertFunction(ap.Get(name)); !ok {
				continue
			}
			g.wrap(ap, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
				o, n := g.arrayLike(what, call.This)
				g.checkLength(what, n, MaxArrayLength)
				return callOrig(orig, goja.FunctionCall{This: o, Arguments: call.Arguments})
			})
		}
	}
	// Array.prototype[Symbol.iterator] is Array.prototype.values.
	_ = ap.DefineDataPropertySymbol(goja.SymIterator, ap.Get("values"), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)

	array := g.rt.Get("Array").ToObject(g.rt)
	g.wrap(array, "from", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		if o, ok := call.Argument(0).(*goja.Object); ok {
			// goja looks the iterator up again: it must be data, not a getter.
			if it, found := g.dataProp("Array.from", o, goja.SymIterator); !found || it == nil || goja.IsUndefined(it) || goja.IsNull(it) {
				_, n := g.arrayLike("Array.from", o)
				g.checkLength("Array.from", n, MaxArrayLength)
			}
		}
		return callOrig(orig, call)
	})
}

// Bounds on the text native comparisons walk.
const (
	maxSortText    = 1 << 22 // characters of the strings sort compares natively
	maxCompareText = 1 << 24 // characters indexOf, includes, lastIndexOf compare
)

// checkText refuses an array whose string elements add up to more than
// max characters (what a native comparison may walk).
func (g *guards) checkText(what string, o *goja.Object, n, max int64) {
	total := int64(0)
	for i := int64(0); i < n; i++ {
		if s, ok := o.Get(strconv.FormatInt(i, 10)).(goja.String); ok {
			total += int64(s.Length())
			if total > max {
				g.rangeError("%s: its strings hold more than %d characters; compare them with a function", what, max)
			}
		}
		if i&1023 == 1023 && g.v.halted.Load() {
			return
		}
	}
}

// toLocaleString is Array.prototype.toLocaleString, bounded like join.
func (g *guards) toLocaleString(call goja.FunctionCall) goja.Value {
	return g.joinWith("Array.prototype.toLocaleString", call.This, g.rt.ToValue(","), func(el goja.Value) goja.String {
		o := el.ToObject(g.rt)
		fn, ok := goja.AssertFunction(o.Get("toLocaleString"))
		if !ok {
			panic(g.rt.NewTypeError("toLocaleString is not a function"))
		}
		res, err := fn(el)
		if err != nil {
			panic(err)
		}
		return g.str(res)
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
	sep := call.Argument(0)
	if goja.IsUndefined(sep) {
		sep = g.rt.ToValue(",")
	}
	return g.joinWith("Array.prototype.join", call.This, sep, g.str)
}

// joinWith joins the elements of this, each turned into a string by conv.
func (g *guards) joinWith(what string, this, sepValue goja.Value, conv func(goja.Value) goja.String) goja.Value {
	o := this.ToObject(g.rt)
	n := o.Get("length").ToInteger() // read once: this loop is flowbot's own
	g.checkLength(what, n, MaxArrayLength)
	sep := g.str(sepValue)
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
		el := o.Get(strconv.FormatInt(i, 10))
		if el != nil && !goja.IsUndefined(el) && !goja.IsNull(el) {
			s := conv(el)
			b.WriteString(s)
			size += s.Length()
		}
		if size > MaxStringBytes {
			g.rangeError("%s: the result would be over %d characters", what, MaxStringBytes)
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
		_, n := g.arrayLike("Array.prototype.flat", o)
		count += n
		g.checkLength("Array.prototype.flat", count, MaxArrayLength)
		if d <= 0 {
			return true
		}
		for i := int64(0); i < n; i++ {
			if g.v.halted.Load() {
				return false
			}
			if el, ok := o.Get(strconv.FormatInt(i, 10)).(*goja.Object); ok && (el.ClassName() == "Array" || isProxy(el)) && !walk(el, d-1) {
				return false
			}
		}
		return true
	}
	this := call.This.ToObject(g.rt)
	if !walk(this, depth) {
		// Halted: the interrupt stops the script next. goja's flat must not
		// start on what the walk did not finish counting.
		return goja.Undefined()
	}
	args := []goja.Value{g.rt.ToValue(depth)}
	return callOrig(orig, goja.FunctionCall{This: this, Arguments: args})
}

// Every guard below converts what it checks once — the receiver to a
// string, a count to a number — and hands goja's original those
// primitives: a valueOf, toString or getter cannot answer the check one
// thing and goja another.

// maxHeavyText is the longest string the slower per-character built-ins
// (case mapping, normalize, localeCompare) take in one call.
const maxHeavyText = 1 << 17

// stringMethods bounds String.prototype's builders and iterator.
func (g *guards) stringMethods() {
	sp := g.proto("String")
	over := func(n, count int64) bool { return count > 0 && n > MaxStringBytes/count }
	g.wrap(sp, "repeat", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		this := g.str(call.This)
		count := call.Argument(0).ToInteger()
		if over(int64(this.Length()), count) {
			g.rangeError("repeat(): the result would be over %d characters", MaxStringBytes)
		}
		return callOrig(orig, guardCall(this, g.rt.ToValue(count)))
	})
	for _, name := range []string{"padStart", "padEnd"} {
		g.wrap(sp, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			this := g.str(call.This)
			n := call.Argument(0).ToInteger()
			if n > MaxStringBytes {
				g.rangeError("%s(): the result would be over %d characters", name, MaxStringBytes)
			}
			fill := call.Argument(1)
			if !goja.IsUndefined(fill) {
				fill = g.str(fill)
			}
			return callOrig(orig, guardCall(this, g.rt.ToValue(n), fill))
		})
	}
	g.wrap(sp, "concat", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		this := g.str(call.This)
		args := make([]goja.Value, len(call.Arguments))
		total := int64(this.Length())
		for i, a := range call.Arguments {
			sa := g.str(a)
			args[i] = sa
			total += int64(sa.Length())
			if total > MaxStringBytes {
				g.rangeError("concat(): the result would be over %d characters", MaxStringBytes)
			}
		}
		return callOrig(orig, guardCall(this, args...))
	})
	for _, name := range []string{"toLowerCase", "toUpperCase", "toLocaleLowerCase", "toLocaleUpperCase", "normalize", "localeCompare"} {
		g.wrap(sp, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			this := g.str(call.This)
			args := append([]goja.Value(nil), call.Arguments...)
			n := int64(this.Length())
			if name == "localeCompare" && len(args) > 0 {
				args[0] = g.str(args[0])
				n = max(n, int64(args[0].(goja.String).Length()))
			}
			if name == "normalize" && len(args) > 0 && !goja.IsUndefined(args[0]) {
				args[0] = g.str(args[0])
			}
			if n > maxHeavyText {
				g.rangeError("%s(): %d characters are more than the %d it takes in a flow script", name, n, maxHeavyText)
			}
			return callOrig(orig, guardCall(this, args...))
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
			this, search := g.str(call.This), g.str(call.Argument(0))
			repl := call.Argument(1)
			if _, isFn := goja.AssertFunction(repl); !isFn {
				repl = g.str(repl)
			}
			matches := int64(1)
			if all {
				matches = int64(countOccurrences(this.String(), search.String()))
			}
			g.checkReplacement(name, int64(this.Length()), matches, repl)
			return callOrig(orig, guardCall(this, search, repl))
		})
	}
	g.wrap(sp, "split", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		this := call.This
		sep := call.Argument(0)
		if _, isObj := sep.(*goja.Object); !isObj {
			this = g.str(call.This)
			if !goja.IsUndefined(sep) {
				sep = g.str(sep)
			}
		}
		limit := call.Argument(1)
		n := int64(MaxArrayLength + 1)
		if !goja.IsUndefined(limit) {
			n = min(limit.ToInteger(), n)
			if n < 0 { // ToUint32 of a negative limit is a huge one
				n = MaxArrayLength + 1
			}
		}
		res := callOrig(orig, guardCall(this, sep, g.rt.ToValue(n)))
		if o, ok := res.(*goja.Object); ok && o.Get("length").ToInteger() > MaxArrayLength {
			g.rangeError("split(): more than %d parts", MaxArrayLength)
		}
		return res
	})
	g.wrapSymbol(sp, goja.SymIterator, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		this := g.str(call.This)
		g.checkLength("String.prototype[Symbol.iterator]", int64(this.Length()), MaxArrayLength)
		return callOrig(orig, guardCall(this))
	})
	for _, name := range []string{"match", "matchAll", "search"} {
		g.wrap(sp, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			pattern := call.Argument(0)
			if _, isObj := pattern.(*goja.Object); isObj || goja.IsUndefined(pattern) {
				return callOrig(orig, call) // a RegExp's own method is guarded
			}
			// goja compiles the string as a pattern: check it as the RegExp
			// constructor does.
			p := g.str(pattern)
			g.checkPattern(name+"()", p.String())
			return callOrig(orig, guardCall(g.str(call.This), p))
		})
	}
	str := g.rt.Get("String").ToObject(g.rt)
	g.wrap(str, "raw", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		// Copy the template's parts and the substitutions, as strings, and
		// count them: goja's String.raw then reads only what was counted.
		tmpl := call.Argument(0).ToObject(g.rt)
		rawV, _ := g.dataProp("String.raw", tmpl, g.rt.ToValue("raw"))
		if rawV == nil || goja.IsUndefined(rawV) {
			return callOrig(orig, call)
		}
		raw, n := g.arrayLike("String.raw", rawV)
		g.checkLength("String.raw", n, MaxArrayLength)
		total := int64(0)
		parts := make([]any, n)
		for i := int64(0); i < n; i++ {
			ps := g.str(raw.Get(strconv.FormatInt(i, 10)))
			parts[i] = ps
			total += int64(ps.Length())
		}
		subs := make([]goja.Value, 0, len(call.Arguments))
		for i, a := range call.Arguments {
			if i == 0 {
				continue
			}
			if int64(i) >= n {
				break // substitutions past the parts are never read
			}
			sa := g.str(a)
			subs = append(subs, sa)
			total += int64(sa.Length())
		}
		if total > MaxStringBytes {
			g.rangeError("String.raw: the result would be over %d characters", MaxStringBytes)
		}
		copyObj := g.rt.NewObject()
		_ = copyObj.Set("raw", g.rt.NewArray(parts...))
		return callOrig(orig, guardCall(call.This, append([]goja.Value{copyObj}, subs...)...))
	})
	// Object.keys and its kin list a string's every index.
	obj := g.rt.Get("Object").ToObject(g.rt)
	for _, name := range []string{"keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertyDescriptors", "assign"} {
		arg := 0
		if name == "assign" {
			arg = -1 // every source
		}
		g.wrap(obj, name, func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			for i, a := range call.Arguments {
				if arg >= 0 && i != arg || arg < 0 && i == 0 {
					continue
				}
				g.checkKeys("Object."+name, a)
			}
			return callOrig(orig, call)
		})
	}
	reflect := g.rt.Get("Reflect").ToObject(g.rt)
	g.wrap(reflect, "ownKeys", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		g.checkKeys("Reflect.ownKeys", call.Argument(0))
		return callOrig(orig, call)
	})
}

// checkKeys refuses a string (or String object) with more characters than
// MaxArrayLength as the source of an own-keys listing.
func (g *guards) checkKeys(what string, v goja.Value) {
	switch x := v.(type) {
	case goja.String:
		g.checkLength(what, int64(x.Length()), MaxArrayLength)
	case *goja.Object:
		if x.ClassName() == "String" {
			g.checkLength(what, x.Get("length").ToInteger(), MaxArrayLength)
		}
	}
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
	timed := func(what string, replace bool, found func(goja.Value) bool) native {
		return func(orig goja.Callable, call goja.FunctionCall) goja.Value {
			input := g.str(call.Argument(0))
			n := int64(input.Length())
			if n > MaxRegexpInput {
				g.rangeError("%s: the text is %d characters, more than the %d a regular expression may scan", what, n, MaxRegexpInput)
			}
			args := append([]goja.Value{input}, call.Arguments[min(1, len(call.Arguments)):]...)
			if _, isFn := goja.AssertFunction(call.Argument(1)); replace && !isFn {
				repl := g.str(call.Argument(1))
				args = []goja.Value{input, repl}
				// A quick upper bound first; count the matches only when it
				// fails, and only on a RegExp whose flags nothing overrides.
				r := repl.String()
				per := int64(utf16Len(r)) + int64(strings.Count(r, "$"))*n
				if n+(n+1)*per > MaxStringBytes {
					rx, ok := call.This.(*goja.Object)
					if !ok || !g.plainRegExp(rx) {
						g.rangeError("%s(): the result could be over %d characters", what, MaxStringBytes)
					}
					g.checkReplacement(what, n, g.countMatches(rx, input), repl)
				}
			}
			rx, _ := call.This.(*goja.Object)
			if rx != nil {
				g.checkWork(what, rx, n)
			}
			res, ok := g.timedCall(rx, n, found, func() goja.Value {
				return callOrig(orig, goja.FunctionCall{This: call.This, Arguments: args})
			})
			if !ok {
				g.rangeError("%s: the regular expression ran for more than %v on %d characters; simplify it (nested repetition such as (a+)+ and look-arounds can take exponential time)", what, regexpSuspect, n)
			}
			return res
		}
	}
	// exec stays goja's own: replacing it would turn off goja's fast path
	// for every regular expression (each global replace would then compile
	// the pattern for the backtracking engine on every run). A direct
	// exec() is bounded in time by RegexpTimeout per call on the
	// backtracking engine, but a match it gave up on returns null there
	// (SECURITY.md).
	// A slow call is made again only where its result can show a match
	// (timedCall): test's true and search's index; the others may end
	// early on a give-up, which their result cannot show.
	g.wrap(rp, "test", timed("RegExp.prototype.test", false, func(v goja.Value) bool { return v.ToBoolean() }))
	g.wrapSymbol(rp, goja.SymMatch, timed("match", false, nil))
	g.wrapSymbol(rp, goja.SymMatchAll, timed("matchAll", false, nil))
	g.wrapSymbol(rp, goja.SymSearch, timed("search", false, func(v goja.Value) bool { return v.ToInteger() >= 0 }))
	g.wrapSymbol(rp, goja.SymSplit, timed("split", false, nil))
	g.rxReplace = timed("replace", true, nil)
	g.rxReplaceFn = g.wrapSymbol(rp, goja.SymReplace, g.rxReplace)
	if g.rxReplaceFn == nil {
		g.rxReplace = nil
	}
	// matchAll's iterator calls exec itself: time each step.
	it, err := g.rt.RunString(`Object.getPrototypeOf("".matchAll(/x/g))`)
	if err != nil {
		panic("script: cannot reach the matchAll iterator to guard it: " + err.Error())
	}
	g.wrap(it.ToObject(g.rt), "next", func(orig goja.Callable, call goja.FunctionCall) goja.Value {
		start := regexpClock()
		res := callOrig(orig, call)
		if g.tooSlow(start) {
			g.rangeError("matchAll: the regular expression ran for more than %v; simplify it (nested repetition such as (a+)+ and look-arounds can take exponential time)", regexpSuspect)
		}
		return res
	})
	_ = rp.DefineDataProperty("compile", g.thrower("TypeError", "RegExp.prototype.compile is not available in flow scripts; create a new RegExp"), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// tooSlow reports whether a regular expression call that began at start
// ran long enough that its result may be the backtracking engine's silent
// give-up (regexpSuspect); never while the sandbox is being built.
func (g *guards) tooSlow(start time.Time) bool {
	return !g.building && regexpClock().Sub(start) >= regexpSuspect
}

// timedCall makes a regular expression call on rx. A call slow enough
// that its result may be the backtracking engine's silent give-up
// (tooSlow) is refused (ok false) — unless a second try shows a match:
// where found can tell a match from "no match" in the result, rx is a
// plain RegExp and the text at most maxRepeatInput characters, the call
// is made once more with lastIndex as it was, and a match it finds is
// the answer (a give-up never finds one). So a loaded machine that only
// paused a benign call does not fail the script, and a "no match" is
// never trusted from a slow call. found nil: no second try.
func (g *guards) timedCall(rx *goja.Object, n int64, found func(goja.Value) bool, do func() goja.Value) (res goja.Value, ok bool) {
	repeatable := found != nil && n <= maxRepeatInput && rx != nil && g.plainRegExp(rx)
	var lastIndex goja.Value
	if repeatable {
		lastIndex = rx.Get("lastIndex")
	}
	start := regexpClock()
	res = do()
	if !g.tooSlow(start) {
		return res, true
	}
	if !repeatable {
		return res, false
	}
	_ = rx.Set("lastIndex", lastIndex)
	res = do()
	return res, found(res)
}

// maxRepeatInput is the longest text a slow regular expression call is
// made again on (timedCall).
const maxRepeatInput = 4096

// regexpClock times regular expression calls (a test slows it down).
var regexpClock = time.Now

// maxRegexpWork bounds a match on Go's engine (RE2), which has no
// timeout: its cost is the text's length times the compiled program's
// size (about 11 ns for each on this project's machines), so their product
// stays near regexpSuspect.
const maxRegexpWork = 2_000_000

// checkWork refuses a match whose text is too long for the pattern's
// compiled size on Go's engine. Patterns that need the backtracking engine
// are bounded by its timeout instead.
func (g *guards) checkWork(what string, rx *goja.Object, n int64) {
	if n < 256 {
		return // small texts are never the problem
	}
	if !g.plainRegExp(rx) {
		if n*64 > maxRegexpWork {
			g.rangeError("%s: a changed RegExp on %d characters is more than a flow script may scan", what, n)
		}
		return
	}
	key := rx.Get("source").String() + "/" + rx.Get("flags").String()
	insts, ok := g.progSize[key]
	if !ok {
		insts = re2Size(rx.Get("source").String(), rx.Get("flags").String())
		if len(g.progSize) > 256 {
			clear(g.progSize)
		}
		g.progSize[key] = insts
	}
	if int64(insts)*n > maxRegexpWork {
		g.rangeError("%s: a regular expression of %d steps on %d characters is more than a flow script may scan; shorten the text or the pattern", what, insts, n)
	}
}

// re2Size is the size of a pattern's program on Go's engine, as goja
// would compile it; 0 for a pattern that runs on the backtracking engine.
func re2Size(source, flags string) int {
	re2src, err := parser.TransformRegExp(source, strings.Contains(flags, "s"), strings.Contains(flags, "u"))
	if err != nil {
		return 0
	}
	fl := syntax.Perl
	if strings.Contains(flags, "i") {
		fl |= syntax.FoldCase
	}
	re, err := syntax.Parse(re2src, fl)
	if err != nil {
		return 0
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0
	}
	return len(prog.Inst)
}

// checkSpread refuses to spread (...x) a string or an array too long to
// copy at once; rewritten code calls it (rewrite.go).
func (g *guards) checkSpread(call goja.FunctionCall) goja.Value {
	switch x := call.Argument(0).(type) {
	case goja.String:
		g.checkLength("spread (...) of a string", int64(x.Length()), MaxArrayLength)
	case *goja.Object:
		if c := x.ClassName(); (c == "String" || c == "Array") && !isProxy(x) {
			g.checkLength("spread (...)", x.Get("length").ToInteger(), MaxArrayLength)
		}
	}
	return goja.Undefined()
}

// execGuard is RegExp.prototype.exec as rewritten code calls it: the
// text converted once and bounded like the other RegExp methods' (length,
// program size × length, and a RangeError when the backtracking engine
// gave up), then goja's own exec.
func (g *guards) execGuard() func(goja.FunctionCall) goja.Value {
	exec, _ := goja.AssertFunction(g.proto("RegExp").Get("exec"))
	return func(call goja.FunctionCall) goja.Value {
		rx, ok := call.Argument(0).(*goja.Object)
		if !ok || exec == nil {
			panic(g.rt.NewTypeError("RegExp.prototype.exec called on something that is not a RegExp"))
		}
		input := g.str(call.Argument(1))
		n := int64(input.Length())
		if n > MaxRegexpInput {
			g.rangeError("exec: the text is %d characters, more than the %d a regular expression may scan", n, MaxRegexpInput)
		}
		g.checkWork("exec", rx, n)
		res, ok := g.timedCall(rx, n, func(v goja.Value) bool { return !goja.IsNull(v) }, func() goja.Value { return callOrig(exec, guardCall(rx, input)) })
		if !ok {
			g.rangeError("exec: the regular expression ran for more than %v on %d characters; simplify it (nested repetition such as (a+)+ and look-arounds can take exponential time)", regexpSuspect, n)
		}
		return res
	}
}

// plainRegExp reports whether rx is a RegExp with nothing of its own but
// lastIndex, on the (frozen) RegExp.prototype: its flags are its own.
func (g *guards) plainRegExp(rx *goja.Object) bool {
	if rx.ClassName() != "RegExp" || isProxy(rx) || rx.Prototype() != g.proto("RegExp") {
		return false
	}
	names := rx.GetOwnPropertyNames()
	return len(names) == 1 && names[0] == "lastIndex" && len(rx.Symbols()) == 0
}

// Bounds of a pattern compiled from a string at run time.
const (
	MaxPattern        = 10000 // characters
	MaxPatternNesting = 100   // groups inside groups
)

// checkPattern refuses a pattern that is too long or nests groups too
// deep: compiling one is a native step (the backtracking engine's recurses
// once per group, and would overflow the Go stack).
func (g *guards) checkPattern(what, p string) {
	if len(p) > MaxPattern {
		panic(g.newError("SyntaxError", fmt.Sprintf("%s: a regular expression of %d characters is more than the %d a flow script may compile", what, len(p), MaxPattern)))
	}
	if d := patternNesting(p); d > MaxPatternNesting {
		panic(g.newError("SyntaxError", fmt.Sprintf("%s: groups nested %d deep are more than the %d a flow script may compile", what, d, MaxPatternNesting)))
	}
}

// patternNesting is the deepest nesting of groups in a pattern, outside
// character classes and escapes.
func patternNesting(p string) int {
	depth, deepest, inClass := 0, 0, false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
		case c == '(':
			depth++
			deepest = max(deepest, depth)
		case c == ')':
			depth--
		}
	}
	return deepest
}

// countMatches counts a plain global RegExp's matches in s.
func (g *guards) countMatches(rx *goja.Object, s goja.Value) int64 {
	if !rx.Get("global").ToBoolean() || g.match == nil {
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
		text := g.str(call.Argument(0))
		s := text.String()
		if len(s) > MaxStringBytes {
			g.rangeError("JSON.parse: the text is over %d bytes", MaxStringBytes)
		}
		if jsonDepth(s) > MaxJSONDepth {
			g.rangeError("JSON.parse: nested deeper than %d levels", MaxJSONDepth)
		}
		return callOrig(orig, guardCall(call.This, append([]goja.Value{text}, call.Arguments[min(1, len(call.Arguments)):]...)...))
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

// checkArgs refuses an argument list longer than MaxArgs, read as goja
// will read it (arrayLike).
func (g *guards) checkArgs(what string, list goja.Value) {
	if o, ok := list.(*goja.Object); ok {
		_, n := g.arrayLike(what, o)
		g.checkLength(what, n, MaxArgs)
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

package script

import "github.com/dop251/goja"

// preludeJS runs once on each new runtime, after the Go guards are in
// place (sandbox.go). It removes code-from-strings and the unavailable
// globals, bounds JSON.stringify, defines how a thrown value becomes text,
// and last freezes everything reachable from the global object.
//
// It returns {safeMessage, stringify}. The helpers it is given (Go natives) are
// reachable only from here.
var preludeProgram = goja.MustCompile("flowbot:sandbox", preludeJS, true)

const preludeJS = `(function (helpers, MAX_STRING, MAX_DEPTH, MAX_MESSAGE, MAX_ARRAY) {
  "use strict";
  const G = globalThis;
  const isArray = Array.isArray;
  const objectKeys = Object.keys;

  // Code from strings: no eval, and no function constructor reachable
  // from any function's .constructor or from the global Function.
  delete G.eval;
  const noCode = function Function() {
    throw new EvalError("code from strings (eval, Function) is not available in flow scripts");
  };
  noCode.prototype = Function.prototype;
  for (const f of [function () {}, function* () {}, async function () {}]) {
    Object.defineProperty(Object.getPrototypeOf(f), "constructor", { value: noCode });
  }
  G.Function = noCode;

  // Globals flow scripts do not get.
  for (const name of helpers.unavailableNames) {
    const dot = name.indexOf(".");
    const owner = dot < 0 ? G : G[name.slice(0, dot)];
    const key = dot < 0 ? name : name.slice(dot + 1);
    if (owner !== undefined && key in owner) {
      const gone = function () {
        throw new ReferenceError(name + " is not available in flow scripts");
      };
      Object.defineProperty(owner, key, { value: gone });
    }
  }

  // RegExp: a pattern made from a string at run time is checked before
  // goja compiles it (length, nesting: compiling is one native step).
  const RawRegExp = RegExp;
  const checkPattern = helpers.checkPattern;
  const SafeRegExp = function RegExp(pattern, flags) {
    let source = pattern;
    if (!(pattern instanceof RawRegExp)) {
      source = pattern === undefined ? "" : String(pattern);
      checkPattern(source);
    }
    const f = flags === undefined ? undefined : String(flags);
    if (new.target === undefined) return RawRegExp(source, f);
    return Reflect.construct(RawRegExp, [source, f], new.target === SafeRegExp ? RawRegExp : new.target);
  };
  SafeRegExp.prototype = RawRegExp.prototype;
  Object.defineProperty(RawRegExp.prototype, "constructor", { value: SafeRegExp });
  Object.defineProperty(SafeRegExp, Symbol.species, { get() { return this; } });
  G.RegExp = SafeRegExp;

  // new Set(iterable) and new Map(iterable) fill themselves in a native
  // loop that hashes every element: these fill them in script code
  // instead, where the time limit applies to every element.
  for (const [name, Raw, add] of [["Set", Set, "add"], ["Map", Map, "set"]]) {
    const addFn = Raw.prototype[add];
    const Safe = {
      [name]: function (iterable) {
        if (new.target === undefined) throw new TypeError("Constructor " + name + " requires 'new'");
        const o = Reflect.construct(Raw, [], new.target === Safe ? Raw : new.target);
        if (iterable !== undefined && iterable !== null) {
          if (name === "Set") {
            for (const x of iterable) addFn.call(o, x);
          } else {
            for (const e of iterable) {
              if (e === null || typeof e !== "object") throw new TypeError("Iterator value " + String(e) + " is not an entry object");
              addFn.call(o, e[0], e[1]);
            }
          }
        }
        return o;
      },
    }[name];
    Safe.prototype = Raw.prototype;
    Object.defineProperty(Raw.prototype, "constructor", { value: Safe });
    Object.defineProperty(Safe, Symbol.species, { get() { return this; } });
    if (Raw.groupBy) Safe.groupBy = Raw.groupBy;
    G[name] = Safe;
  }

  // JSON.stringify with a size and depth budget. The counting replacer is
  // script code, so a huge input is also stopped by the time limit.
  const rawStringify = JSON.stringify;
  const stringify = function stringify(value, replacer, space) {
    let gap = 0;
    if (typeof space === "number") gap = Math.min(10, Math.max(0, Math.floor(space)));
    else if (typeof space === "string") gap = Math.min(10, space.length);
    const user = typeof replacer === "function" ? replacer : null;
    let allow = null;
    if (user === null && isArray(replacer)) {
      allow = new Set();
      for (let i = 0; i < replacer.length; i++) {
        const k = replacer[i];
        if (typeof k === "string" || typeof k === "number") allow.add(String(k));
      }
    }
    if (isArray(value) && value.length > MAX_ARRAY) {
      throw new RangeError("JSON.stringify: " + value.length + " elements are more than the " + MAX_ARRAY + " a flow script may use");
    }
    let left = MAX_STRING;
    const depth = new WeakMap();
    const counted = function (key, val) {
      if (user !== null) val = user.call(this, key, val);
      if (allow !== null && key !== "" && !isArray(this) && !allow.has(key)) return undefined;
      const d = (depth.get(this) || 0) + 1;
      if (d > MAX_DEPTH) throw new RangeError("JSON.stringify: nested deeper than " + MAX_DEPTH + " levels");
      if (val !== null && typeof val === "object") {
        if (isArray(val) && val.length > MAX_ARRAY) {
          throw new RangeError("JSON.stringify: " + val.length + " elements are more than the " + MAX_ARRAY + " a flow script may use");
        }
        depth.set(val, d);
      }
      left -= key.length + 4 + gap * d;
      if (typeof val === "string") left -= val.length;
      else if (typeof val === "number") left -= 24;
      else if (val instanceof String) left -= stringValueOf.call(val).length;
      if (left < 0) throw new RangeError("JSON.stringify: the result would be over " + MAX_STRING + " characters");
      return val;
    };
    const out = rawStringify(value, counted, space);
    if (typeof out === "string" && out.length > MAX_STRING) {
      // Escapes (\u0001 is six characters) make the text longer than counted.
      throw new RangeError("JSON.stringify: the result would be over " + MAX_STRING + " characters");
    }
    return out;
  };
  const stringValueOf = String.prototype.valueOf;
  Object.defineProperty(JSON, "stringify", { value: stringify });

  // safeMessage turns what a script threw into a short string, inside
  // the run and under its limits, so that flowbot never calls script code
  // (a toString, a message getter) once the run is over.
  const safeMessage = function (e) {
    let s;
    try {
      s = String(e);
    } catch (_) {
      s = "an exception that cannot be shown as text";
    }
    if (typeof s !== "string") s = "an exception that cannot be shown as text";
    if (s.length > MAX_MESSAGE) s = s.slice(0, MAX_MESSAGE) + "…";
    return s;
  };

  // Freeze everything reachable from the global object, and the host
  // functions, so no run can leave anything behind for the next.
  const seen = new Set();
  const ownKeys = Reflect.ownKeys, describe = Object.getOwnPropertyDescriptor, getPrototypeOf = Object.getPrototypeOf;
  const freeze = function (o) {
    if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o)) return;
    seen.add(o);
    Object.freeze(o);
    const keys = ownKeys(o);
    for (let i = 0; i < keys.length; i++) {
      const d = describe(o, keys[i]);
      if (d === undefined) continue;
      if (d.get !== undefined || d.set !== undefined) {
        freeze(d.get);
        freeze(d.set);
      } else {
        freeze(d.value);
      }
    }
    freeze(getPrototypeOf(o));
  };
  freeze(G);
  freeze(helpers.say);
  freeze(helpers.act);
  freeze(safeMessage);
  freeze(Object.getOwnPropertyDescriptor((function () { return arguments; })(), "callee").get);
  // Prototypes reachable only from values, not from the global object.
  for (const v of [function* () {}, async function () {}, (function* () {})(),
                   [][Symbol.iterator](), ""[Symbol.iterator](), new Map().entries(),
                   new Set().values(), "x".matchAll(/x/g), Promise.resolve()]) {
    freeze(Object.getPrototypeOf(v));
  }
  // The helpers rewritten code calls (rewrite.go): exec with the text
  // bounded, and object spread of what can be copied at once.
  const rawExec = RawRegExp.prototype.exec;
  const execGuard = helpers.execGuard;
  const guardedExec = function exec(text) {
    return execGuard(this, text);
  };
  const checkSpread = helpers.checkSpread;
  const host = {
    exec: function (obj, ...args) {
      const f = obj.exec;
      return (f === rawExec ? guardedExec : f).apply(obj, args);
    },
    execOptional: function (obj, ...args) {
      const f = obj.exec;
      if (f === undefined || f === null) return undefined;
      return (f === rawExec ? guardedExec : f).apply(obj, args);
    },
    execOf: function (obj) {
      const f = obj.exec;
      return f === rawExec ? guardedExec : f;
    },
    spread: function (x) {
      checkSpread(x);
      return x;
    },
  };
  freeze(host);

  // forget resets goja's cache of the last string whose property was
  // read, which would keep a run's text in the pooled runtime.
  const forget = function () {
    return "".length;
  };
  freeze(forget);
  return { safeMessage: safeMessage, stringify: stringify, forget: forget, host: host };
})`

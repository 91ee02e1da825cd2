// Recursion through a native call (String → toString → String …) is
// bounded by the call stack.
// want: stack
const o = {};
Object.defineProperty(o, "toString", { value: function () { return String(o); } });
vars.x = String(o);

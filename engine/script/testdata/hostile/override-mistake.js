// Built-in prototypes are frozen, so assigning a property they already
// have (toString, constructor, …) to an ordinary object fails in strict
// mode; Object.defineProperty works (see docs/flows.md).
// want: exception TypeError: Cannot assign to read only property 'toString'
const o = {};
o.toString = function () { return "o"; };

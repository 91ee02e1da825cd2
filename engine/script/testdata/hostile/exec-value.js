// exec read as a value, or called through RegExp.prototype, is bounded too.
// want: exception RangeError: exec:
let s = "a".repeat(1 << 20); s = s + s;
const f = /(?:a|aa){1,100}b/.exec;
f.call(/(?:a|aa){1,100}b/, s);

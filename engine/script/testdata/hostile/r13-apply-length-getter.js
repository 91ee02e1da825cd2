// The guard reads length once (0), goja reads it again (5e7).
// want: exception RangeError: Function.prototype.apply
let n = 0;
Math.max.apply(null, { get length() { return n++ ? 5e7 : 0; } });

// want: exception RangeError: String.prototype[Symbol.iterator]
let s = "x".repeat(1 << 20);
s = s + s;
const chars = [...s];

// want: exception RangeError: spread (...) of a string
let s = "x".repeat(1 << 20);
s = s + s;
const chars = [...s];

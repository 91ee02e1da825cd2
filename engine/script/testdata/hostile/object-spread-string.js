// Object spread is an opcode: flowbot rewrites it, at compile time, to
// check what is spread first.
// want: exception RangeError: spread (...) of a string
let s = "x".repeat(1 << 20);
s = s + s;
const o = { ...s };

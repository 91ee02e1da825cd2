// Converted once by the guard: goja then sees the same value (it was refused or ran away before).
// want: ok|timeout|memory
let s = "x".repeat(1 << 20);
s = s + s; s = s + s;
let n = 0;
s.split("", { valueOf() { return n++ ? 1e9 : 1; } });

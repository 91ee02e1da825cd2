// Converted once by the guard: goja then sees the same value (it was refused or ran away before).
// want: ok|timeout|memory
let n = 0;
"x".repeat({ valueOf() { return n++ ? 1e9 : 1; } });

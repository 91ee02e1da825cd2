// Each doubling is one instruction; the heap watch stops it.
// want: memory|timeout
let s = "x".repeat(1 << 20);
for (;;) s += s;

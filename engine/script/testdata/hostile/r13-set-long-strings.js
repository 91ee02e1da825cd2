// new Set hashes each 1 MiB element in one native loop.
// want: exception|timeout|memory
const s = "x".repeat(1 << 20);
const a = [];
for (let i = 0; i < 30000; i++) a.push(s);
new Set(a);

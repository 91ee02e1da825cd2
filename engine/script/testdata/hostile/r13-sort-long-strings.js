// 32,768 elements (allowed), each compare reads 1 MiB.
// want: exception|timeout|memory
const base = "x".repeat(1 << 20);
const d = [];
for (let i = 0; i < 8; i++) d.push(base + i);
const a = [];
for (let i = 0; i < 32768; i++) a.push(d[i % 8]);
a.sort();

// want: exception|timeout|memory
const s = "x".repeat(1 << 20);
const hay = s + "a", needle = s + "b";
const a = [];
for (let i = 0; i < 30000; i++) a.push(hay);
a.indexOf(needle);

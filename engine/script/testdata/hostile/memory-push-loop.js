// want: memory|timeout
const a = [];
for (;;) a.push({ n: a.length, s: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + a.length });

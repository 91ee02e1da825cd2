// want: memory|timeout
let o = {};
for (;;) o = Object.create(o);

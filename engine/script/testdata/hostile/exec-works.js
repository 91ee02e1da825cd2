// Ordinary exec loops keep working.
// want: ok
const re = /(\d+)/g;
let m, sum = 0;
while ((m = re.exec("a1 b22 c333")) !== null) sum += Number(m[1]);
const o = { exec() { return "mine"; } };
vars.s = String(sum) + o.exec() + JSON.stringify({ ...{ a: 1 }, ...[2] });
if (vars.s !== '356mine{"0":2,"a":1}') throw new Error(vars.s);

// Every kind of spread and rest still works as JavaScript says.
// want: ok
const f = (...xs) => xs.length;
const [first, ...rest] = [1, 2, 3];
const { a, ...others } = { a: 1, b: 2, c: 3 };
let p, q;
({ p, ...q } = { p: 1, r: 2 });
const arr = [...[1, 2], ..."ab"];
const obj = { ...{ x: 1 }, ..."hi", ...null, ...undefined };
const made = new Array(...[3]).length + Math.max(...[1, 5, 2]);
vars.s = [f(...[1, 2, 3]), first, rest.length, a, Object.keys(others).length, p, q.r, arr.join(""), JSON.stringify(obj), made].join(",");
if (vars.s !== '3,1,2,1,2,1,2,12ab,{"0":"h","1":"i","x":1},8') throw new Error(vars.s);

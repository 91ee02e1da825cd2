// Every way of writing exec still works as JavaScript says.
// want: ok
const re = /(\d+)/;
const o = { re: re, none: {} };
const a = [re?.exec("x1")[1], re.exec?.("x2")[1], o?.re.exec("x3")[1], re["exec"]("x4")[1],
  RegExp.prototype.exec.call(re, "x5")[1], String(o.none.exec?.("x")), String(o.none?.exec?.("x"))];
vars.s = a.join(",");
if (vars.s !== "1,2,3,4,5,undefined,undefined") throw new Error(vars.s);

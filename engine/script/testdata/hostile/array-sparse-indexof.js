// A sparse array claims four billion elements; native methods would walk them all.
// want: exception RangeError: Array.prototype.indexOf
const a = [];
a[4294967294] = 1;
vars.i = String(a.indexOf(2));

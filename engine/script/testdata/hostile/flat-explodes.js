// want: exception RangeError: Array.prototype.flat
const a = [];
a.push(a, a);
a.flat(Infinity);

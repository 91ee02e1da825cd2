// want: exception RangeError: Array.prototype.sort
const a = new Array(1 << 16).fill("x");
a.sort();

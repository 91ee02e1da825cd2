// want: exception|memory RangeError: Array.prototype.toLocaleString
const s = "x".repeat(1 << 20);
new Array(2000).fill(s).toLocaleString();

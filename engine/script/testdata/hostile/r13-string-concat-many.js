// want: exception|memory RangeError
const s = "x".repeat(1 << 20);
"".concat(...new Array(2000).fill(s));

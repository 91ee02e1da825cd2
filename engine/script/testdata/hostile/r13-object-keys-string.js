// want: exception|memory RangeError
let s = "x".repeat(1 << 20);
s = s + s; s = s + s;
Object.keys(s);

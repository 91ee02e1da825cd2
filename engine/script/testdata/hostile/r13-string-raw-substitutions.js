// want: exception|memory RangeError: String.raw
const s = "x".repeat(1 << 20);
String.raw({ raw: new Array(2001).fill("") }, ...new Array(2000).fill(s));

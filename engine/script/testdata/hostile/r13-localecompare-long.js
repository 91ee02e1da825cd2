// want: exception RangeError
let s = "a".repeat(1 << 20);
s = s + s; s = s + s;
s.localeCompare(s);

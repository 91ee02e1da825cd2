// want: exception RangeError
let s = "\u1e9b\u0323".repeat(1 << 19);
s = s + s; s = s + s;
s.normalize("NFKD");

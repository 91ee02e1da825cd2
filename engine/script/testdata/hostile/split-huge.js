// want: exception|memory|timeout split(): more than
let s = "x".repeat(1 << 20);
s = s + s;
s.split("");

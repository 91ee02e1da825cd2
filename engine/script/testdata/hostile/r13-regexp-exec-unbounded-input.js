// exec() is not wrapped: no input bound, and the Go engine has no timeout.
// want: exception RangeError: exec:
let s = "a".repeat(1 << 20);
s = s + s; s = s + s;
/(?:a|aa){1,100}b/.exec(s);

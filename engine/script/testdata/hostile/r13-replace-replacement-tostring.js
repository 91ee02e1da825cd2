// The guard counts String(repl) = "", goja then uses "$`$`".
// want: exception RangeError: replace
let n = 0;
"a".repeat(1 << 16).replace(/a/g, { toString() { return n++ ? "$`$`" : ""; } });

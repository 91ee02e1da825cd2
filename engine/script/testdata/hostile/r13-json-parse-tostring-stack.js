// JSON.parse measures the depth of String(arg), then goja converts arg again.
// want: exception RangeError
let n = 0, m = 0;
const big = { valueOf() { return m++ % 2 ? 3000000 : 1; } };
const deep = "[".repeat(big) + "]".repeat(big);
JSON.parse({ toString() { return n++ ? deep : "1"; } });

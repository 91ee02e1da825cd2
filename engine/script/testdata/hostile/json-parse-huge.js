// want: exception RangeError: JSON.parse: the text is over
let s = "1".repeat(1 << 20);
JSON.parse("[" + s + s + "]");

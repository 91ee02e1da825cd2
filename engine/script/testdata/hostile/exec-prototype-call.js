// want: exception RangeError: exec:
let s = "a".repeat(1 << 20); s = s + s;
RegExp.prototype.exec.call(/(?:a|aa){1,100}b/, s);

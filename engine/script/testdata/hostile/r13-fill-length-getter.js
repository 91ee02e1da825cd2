// want: exception RangeError: Array.prototype.fill
let n = 0;
Array.prototype.fill.call({ get length() { return n++ ? 4294967295 : 0; } }, 1);

// want: exception RangeError: Array.prototype.indexOf
let n = 0;
Array.prototype.indexOf.call({ get length() { return n++ ? 4294967295 : 0; } }, 1);

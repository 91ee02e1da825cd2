// want: exception RangeError: Array.prototype.sort
let n = 0;
Array.prototype.sort.call({ get length() { return n++ ? 5e6 : 0; } });

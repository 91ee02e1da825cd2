// want: exception RangeError: Array.prototype.values
const a = [...new Array(1e9)];

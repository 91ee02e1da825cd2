// want: exception RangeError: Array.prototype.fill: 100000000 elements
new Array(1e8).fill(0);

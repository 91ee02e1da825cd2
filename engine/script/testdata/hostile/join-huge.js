// want: exception RangeError: Array.prototype.join: the result would be over
vars.s = String(new Array(100000).join("x".repeat(1000)).length);

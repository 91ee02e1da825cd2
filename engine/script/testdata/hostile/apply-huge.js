// want: exception RangeError: Function.prototype.apply
Math.max.apply(null, { length: 1e9 });

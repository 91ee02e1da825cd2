// The guard sees an iterator, goja then sees none and walks length.
// want: exception RangeError: Array.from
let n = 0;
Array.from({ length: 2e7, get [Symbol.iterator]() { return n++ ? undefined : function () {}; } });

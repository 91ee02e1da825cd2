// want: exception RangeError: spread (...)
const a = [...new Array(1e9)];

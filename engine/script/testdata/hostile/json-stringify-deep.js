// want: exception RangeError: JSON.stringify: nested deeper than
let o = {};
for (let i = 0; i < 10000; i++) o = { o: o };
JSON.stringify(o);

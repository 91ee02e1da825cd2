// Deep nesting would recurse natively without bound.
// want: exception RangeError: join: arrays nested deeper than
let a = [];
for (let i = 0; i < 10000; i++) a = [a];
vars.s = String(a);

// A cycle joins as "" (as browsers do), it does not recurse forever.
// want: ok
const a = [1, 2];
a.push(a);
vars.s = a.join("-");

// want: exception TypeError
const o = {};
o.o = o;
vars.x = o;

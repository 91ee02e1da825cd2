// want: exception TypeError
const p = {};
p.p = p;
act("contact_update", p);

// vars' own values are what is stored; its prototype is never read back.
// want: ok
Object.setPrototypeOf(vars, new Proxy({}, { get() { throw new Error("never"); } }));
vars.y = "1";

// A Proxy as vars' prototype is never consulted: only own keys are read.
// want: ok
Object.setPrototypeOf(vars, new Proxy({}, { get() { throw new Error("never"); } }));
vars.y = "1";

// want: exception Error: trap
vars.x = new Proxy({}, { ownKeys() { throw new Error("trap"); } });

// want: exception Error: nope
vars.x = { toJSON() { throw new Error("nope"); } };

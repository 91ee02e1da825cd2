// want: exception Error: boom
Object.defineProperty(vars, "x", { enumerable: true, get() { throw new Error("boom"); } });

// vars holds data only: a getter cannot even be defined on it.
// want: exception TypeError: Dynamic objects do not support accessor properties
Object.defineProperty(vars, "x", { enumerable: true, get() { throw new Error("boom"); } });

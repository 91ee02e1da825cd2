// want: exception TypeError: Dynamic objects do not support accessor properties
Object.defineProperty(vars, "x", { enumerable: true, get() { for (;;) {} } });

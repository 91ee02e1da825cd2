// want: timeout
Object.defineProperty(vars, "x", { enumerable: true, get() { for (;;) {} } });

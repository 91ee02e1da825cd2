// want: exception TypeError
Object.freeze(vars);

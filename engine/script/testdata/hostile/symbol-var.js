// want: exception TypeError: vars.x is a symbol
vars.x = Symbol("s");

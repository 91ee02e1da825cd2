// want: exception EvalError: code from strings
Object.getPrototypeOf(function* () {}).constructor("yield 1")().next();

// want: exception EvalError: code from strings
Function("return 1")();

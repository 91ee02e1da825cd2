// want: exception EvalError: code from strings
(function () {}).constructor("return 1")();

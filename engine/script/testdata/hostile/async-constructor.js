// want: exception EvalError: code from strings
(async function () {}).constructor("return 1")();

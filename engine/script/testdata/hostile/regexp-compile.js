// want: exception TypeError: RegExp.prototype.compile is not available
/a/.compile("(a+)+$");

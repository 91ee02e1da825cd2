// Input within MaxRegexpInput; goja's Go-regexp path has no timeout and
// costs input × program size.
// want: exception RangeError: RegExp.prototype.test: a regular expression of
/(?:a?){1000}b/.test("a".repeat(262144));

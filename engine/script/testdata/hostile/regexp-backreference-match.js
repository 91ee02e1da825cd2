// A back-reference forces the backtracking engine; match() goes through
// RegExp.prototype[Symbol.match].
// want: exception match: the regular expression ran for more than
// text: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
vars.m = String(event.text.match(/^(a+)+\1b$/));

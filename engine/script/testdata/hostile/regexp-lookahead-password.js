// A password-style check on contact text: look-aheads run on the
// backtracking engine, and (a+)+ backtracks exponentially on a near miss.
// want: exception RangeError: RegExp.prototype.test: the regular expression ran for more than
// text: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
if (/^(?=.*[a-z])(?=.*a)(a+)+$/.test(event.text)) vars.ok = "yes";

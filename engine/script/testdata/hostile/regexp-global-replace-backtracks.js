// A global replace on text that is not plain ASCII runs on goja's
// backtracking engine even for a pattern RE2 could run.
// want: exception replace: the regular expression ran for more than
// text: éaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
vars.r = event.text.replace(/(a+)+b/g, "-");

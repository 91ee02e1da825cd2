// A pattern built at run time (from contact text, say) is bounded too.
// want: exception the regular expression ran for more than
// text: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
const re = new RegExp("^(?=a)(a+)+$");
vars.r = String(re.test(event.text));

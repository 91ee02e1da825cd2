// The same pattern on ASCII text runs on RE2, in linear time: no error.
// want: ok
// text: xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
vars.r = event.text.replace(/(a+)+b/g, "-");

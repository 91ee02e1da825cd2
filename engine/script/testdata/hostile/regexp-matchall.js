// want: exception the regular expression ran for more than
// text: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!
for (const m of event.text.matchAll(/(?=a)(a+)+$/g)) vars.m = m[0];

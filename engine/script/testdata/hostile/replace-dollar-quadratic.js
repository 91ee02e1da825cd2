// $' inserts the rest of the text at every match: quadratic.
// want: exception the result could be over
vars.s = String("a".repeat(100000).replace(/a/g, "$'").length);

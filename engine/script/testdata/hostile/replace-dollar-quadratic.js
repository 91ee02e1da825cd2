// $' inserts the rest of the text at every match: quadratic.
// want: exception|memory the result could be over
vars.s = String("a".repeat(100000).replace(/a/g, "$'").length);

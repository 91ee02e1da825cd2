// want: exception TypeError: a script may return the name of a state (a string), not a object
return { toString() { return "done"; } };

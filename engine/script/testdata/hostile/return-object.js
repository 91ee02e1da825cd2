// want: exception TypeError: a script may return the name of a state (a string), not an object
return { toString() { return "done"; } };

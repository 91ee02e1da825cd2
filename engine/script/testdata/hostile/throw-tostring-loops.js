// flowbot turns the thrown value into text inside the run, under its limit.
// want: timeout
throw { toString() { for (;;) {} } };

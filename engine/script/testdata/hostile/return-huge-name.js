// want: exception TypeError: a script returned a string of 1000000 characters
return "x".repeat(1e6);

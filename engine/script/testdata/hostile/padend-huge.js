// want: exception RangeError: padEnd(): the result would be over
"x".padEnd(1e9);

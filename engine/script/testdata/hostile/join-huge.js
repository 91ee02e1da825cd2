// want: exception RangeError: join: the result would be over
vars.s = String(new Array(100000).join("x".repeat(1000)).length);

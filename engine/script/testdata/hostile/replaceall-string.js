// want: exception RangeError: replaceAll(): the result could be over
vars.s = String("a".repeat(100000).replaceAll("a", "b".repeat(100)).length);

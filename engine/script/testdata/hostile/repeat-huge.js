// want: exception RangeError: repeat(): the result would be over
"x".repeat(1e9);

// The message is cut, so a log line stays short.
// want: exception Error: xxxxxxxx
throw new Error("x".repeat(1 << 20));

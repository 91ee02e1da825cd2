// length × count overflows int64 in the guard (4 × 2^62 = 2^64 → 0).
// want: exception RangeError: repeat(): the result would be over
"abcd".repeat(2 ** 62);

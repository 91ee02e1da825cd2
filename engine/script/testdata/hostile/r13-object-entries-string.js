// One native call makes an entry (an array and a string) per character.
// want: exception|memory RangeError
let s = "x".repeat(1 << 20);
s = s + s; s = s + s;
Object.entries(s);

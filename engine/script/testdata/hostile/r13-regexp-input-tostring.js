// Converted once by the guard: goja then sees the same value (it was refused or ran away before).
// The guard measures String(input) = "", goja then scans 4 Mi characters.
// want: ok|timeout|memory
let s = "a".repeat(1 << 20);
s = s + s; s = s + s;
let n = 0;
/(?:a?){100}b/.test({ toString() { return n++ ? s : ""; } });

// want: exception more than the 262144 a regular expression may scan
const s = "ab".repeat(300000);
vars.n = String(s.replace(/a/g, "").length);

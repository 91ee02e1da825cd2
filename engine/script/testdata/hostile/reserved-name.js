// want: syntax __flowbot is a name flowbot reserves
const __flowbot = { exec() {} };

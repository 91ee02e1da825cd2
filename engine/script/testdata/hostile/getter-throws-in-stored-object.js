// An object stored in vars is read (as JSON) inside the run.
// want: exception Error: boom
vars.x = { get y() { throw new Error("boom"); } };

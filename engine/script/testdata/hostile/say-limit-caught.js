// An output cap cannot be caught and ignored.
// want: limit say() called more than 20 times
try { for (let i = 0; i < 30; i++) say("x"); } catch (e) {}
vars.after = "ran";

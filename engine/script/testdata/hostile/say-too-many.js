// want: limit say() called more than 20 times
for (let i = 0; i < 30; i++) say("x");

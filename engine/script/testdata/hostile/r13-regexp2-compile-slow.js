// want: exception|timeout
new RegExp("(".repeat(1000000) + "a" + ")".repeat(1000000)).test("a");

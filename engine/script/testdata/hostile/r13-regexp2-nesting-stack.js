// A look-ahead sends the pattern to regexp2, whose compiler recurses per group.
// want: exception|timeout SyntaxError
new RegExp("(?=" + "(".repeat(1000000) + "a" + ")".repeat(1000000) + ")").test("a");

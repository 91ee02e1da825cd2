// want: exception an exception that cannot be shown as text
throw { toString() { throw new Error("again"); } };

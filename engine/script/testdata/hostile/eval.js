// want: exception ReferenceError
eval("1");

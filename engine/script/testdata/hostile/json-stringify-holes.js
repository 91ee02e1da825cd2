// want: exception JSON.stringify: 100000000 elements are more than
JSON.stringify(new Array(1e8));

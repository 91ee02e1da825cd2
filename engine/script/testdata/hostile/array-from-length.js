// want: exception RangeError: Array.from
Array.from({ length: 1e9 });

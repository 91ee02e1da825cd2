// want: exception RangeError: String.raw
String.raw({ raw: { length: 1e9 } });

// want: exception RangeError: Reflect.apply
Reflect.apply(Math.max, null, { length: 1e9 });

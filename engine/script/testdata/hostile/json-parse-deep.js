// want: exception RangeError: JSON.parse: nested deeper than
JSON.parse("[".repeat(100000) + "]".repeat(100000));

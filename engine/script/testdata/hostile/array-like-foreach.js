// want: exception RangeError: Array.prototype.forEach
Array.prototype.forEach.call({ length: 4294967295 }, function () {});

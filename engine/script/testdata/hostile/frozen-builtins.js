// want: exception TypeError
Object.getPrototypeOf([][Symbol.iterator]()).next = function () { return { done: true }; };

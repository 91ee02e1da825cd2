// want: exception TypeError: vars.x is a function
vars.x = function () {};

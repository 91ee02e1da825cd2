// want: timeout
vars.x = { get y() { for (;;) {} } };

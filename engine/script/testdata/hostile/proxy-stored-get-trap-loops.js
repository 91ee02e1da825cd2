// want: timeout
vars.x = new Proxy({ a: 1 }, { get() { for (;;) {} } });

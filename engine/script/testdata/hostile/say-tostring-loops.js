// want: timeout
say({ toString() { for (;;) {} } });

// A job queued by the script runs after it returns, still under the limit.
// want: timeout
Promise.resolve().then(function () { for (;;) {} });

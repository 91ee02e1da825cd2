// want: ok
if (event.location) event.location.latitude = 0;
event.extra = { a: [1, 2, 3] };
bot.id = "changed";
vars.t = typeof event.extra;

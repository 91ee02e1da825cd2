// event is the run's own: a script may change it; nothing breaks.
// want: ok
try { Object.defineProperty(event, "text", { get() { throw new Error("x"); } }); } catch (e) {}
try { Object.setPrototypeOf(event, null); } catch (e) {}
delete event.name;
contact.name = "someone else";
vars.ok = "1";

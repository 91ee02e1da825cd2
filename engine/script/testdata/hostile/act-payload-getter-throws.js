// want: exception Error: payload
act("contact_update", { get name() { throw new Error("payload"); } });

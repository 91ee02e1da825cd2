// A payload goes to the chat platform: it is bounded.
// want: exception RangeError: act(): the payload is
act("contact_update", { custom_fields: { x: "x".repeat(100000) } });

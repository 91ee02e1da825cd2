// want: exception ReferenceError: Symbol.for is not available in flow scripts
Symbol.for(contact.name || "x");

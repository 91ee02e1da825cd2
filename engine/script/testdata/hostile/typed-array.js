// want: exception ReferenceError: Uint8Array is not available in flow scripts
new Uint8Array(4e9);

// want: exception ReferenceError: ArrayBuffer is not available in flow scripts
new ArrayBuffer(4e9);

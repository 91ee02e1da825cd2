// want: exception ReferenceError: BigInt is not available in flow scripts
BigInt(10) ** BigInt(100000000);

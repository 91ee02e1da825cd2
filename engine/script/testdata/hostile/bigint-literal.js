// want: syntax BigInt literal 2n is not available
vars.x = String(2n ** 100000000n);

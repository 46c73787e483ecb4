import { selectBackend } from '@cellstack/core';

// Tests run on the embedded backends only (never tfjs-node); CELLSTACK_TEST_BACKEND picks one.
await selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'cpu' | 'wasm' | undefined) ?? 'wasm');

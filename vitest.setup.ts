import { selectBackend } from '@cellstack/core';

// Tests run on the embedded backends (never tfjs-node), the webgpu project on webgpu; CELLSTACK_TEST_BACKEND picks one.
await selectBackend((process.env.CELLSTACK_TEST_BACKEND as 'cpu' | 'wasm' | 'webgpu' | undefined) ?? 'wasm');

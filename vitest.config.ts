import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { cellstackProject } from './vitest.shared.ts';

// The fused-vs-generic suites, and the wasm backend's patched matmuls, once more with every
// matrix product on the native addon, where it is built (CI builds it): the per-package
// projects run them with the default threshold, under which their small shapes stay in wasm.
const native = createRequire(import.meta.url)('@cellstack/native') as { matmul?: unknown };
const nativeProject = cellstackProject('fused-native', {
  include: ['packages/*/test/fused*.test.ts', 'packages/core/test/native.test.ts', 'packages/core/test/accel-matmul.test.ts'],
  env: { CELLSTACK_NATIVE: 'all' },
});

// Every cell on tf's webgpu backend (Dawn; CI runs it on Mesa's software lavapipe), and the
// WGSL kernels against the generic path. CELLSTACK_TEST_WEBGPU=0 leaves it out on a machine
// without a Vulkan / Metal / D3D12 adapter; CI never does, so a missing adapter fails there.
const webgpuProject = cellstackProject('webgpu', {
  include: ['tools/webgpu/*.test.ts'],
  env: { CELLSTACK_TEST_BACKEND: 'webgpu' },
  // One fork at a time: each opens the (software) GPU, and lavapipe uses every core.
  fileParallelism: false,
});

// One project per package (packages/*/vitest.config.ts) and the example plugin; `npm test` runs them all.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'examples/plugin-mgu/vitest.config.ts', ...(native.matmul ? [nativeProject] : []), ...(process.env.CELLSTACK_TEST_WEBGPU === '0' ? [] : [webgpuProject])],
  },
});

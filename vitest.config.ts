import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { cellstackProject } from './vitest.shared.ts';

// The fused-vs-generic suites once more with every matrix product on the native addon,
// where it is built (CI builds it): the per-package projects run them with the default
// threshold, under which their small shapes stay in wasm.
const native = createRequire(import.meta.url)('@cellstack/native') as { matmul?: unknown };
const nativeProject = cellstackProject('fused-native', {
  include: ['packages/*/test/fused*.test.ts', 'packages/core/test/native.test.ts'],
  env: { CELLSTACK_NATIVE: 'all' },
});

// One project per package (packages/*/vitest.config.ts) and the example plugin; `npm test` runs them all.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'examples/plugin-mgu/vitest.config.ts', ...(native.matmul ? [nativeProject] : [])],
  },
});

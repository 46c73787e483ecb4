import { defineConfig } from 'vitest/config';

// One project per package (packages/*/vitest.config.ts); `npm test` runs them all.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts'],
  },
});

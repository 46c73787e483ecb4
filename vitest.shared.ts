import { defineProject, type TestProjectInlineConfiguration } from 'vitest/config';

/** Per-package vitest project: sources resolved through the `@cellstack/source` export condition. */
export const cellstackProject = (name: string, test: TestProjectInlineConfiguration['test'] = {}) =>
  defineProject({
    resolve: { conditions: ['@cellstack/source'] },
    ssr: { resolve: { conditions: ['@cellstack/source'] } },
    test: {
      name,
      include: ['test/**/*.test.ts'],
      setupFiles: [new URL('./vitest.setup.ts', import.meta.url).pathname],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks',
      ...test,
    },
  });

import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code; integration and browser tests (root, real namespaces,
// real bpftrace, real Chromium) live in test/ and run one file at a time: they share
// the kernel and two cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['agent/src/**/*.test.ts', 'ui/src/**/*.test.ts', 'ui/src/**/*.test.tsx'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

// The fault matrix (npm run test:faults): slow cases, one file at a time so memory figures are the bridge's own.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});

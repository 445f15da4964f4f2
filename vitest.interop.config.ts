import { defineConfig } from 'vitest/config';

// Other people's clients and test suites against the bridge (npm run test:interop).
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/deno/**', 'test/deno-net/**', 'test/browser/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Two cores on CI: forks keep heavy suites (property tests, ReDoS checks) isolated.
    pool: "forks",
    testTimeout: 30_000,
    reporters: ["default"],
  },
});

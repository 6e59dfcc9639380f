import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own local servers on ephemeral loopback ports,
    // so files can run in parallel; two cores make more workers pointless.
    maxWorkers: 2,
  },
});

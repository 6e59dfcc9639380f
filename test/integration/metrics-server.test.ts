import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/telemetry/metrics.js";
import { startMetricsServer } from "../../src/telemetry/metrics-server.js";

describe("metrics endpoint", () => {
  it("serves the counters in Prometheus text format, and /healthz follows the state", async () => {
    const metrics = new Metrics();
    metrics.recordsSent.inc({ output: "file[0]" }, 42);
    metrics.errors.inc({ error_type: "corrupt_gzip", stage: "receiving" });
    let healthy = true;
    const server = await startMetricsServer("127.0.0.1:0", metrics, () => healthy);
    try {
      const { port } = server.address() as AddressInfo;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toContain('canary_exporter_component_sent_events_total{output="file[0]"} 42');
      expect(text).toContain(
        'canary_exporter_component_errors_total{error_type="corrupt_gzip",stage="receiving"} 1',
      );
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      healthy = false;
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(503);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      server.close();
    }
  });
});

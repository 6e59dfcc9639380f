import { createServer, type Server } from "node:http";
import type { Metrics } from "./metrics.js";

/**
 * Serves `/metrics` (Prometheus text format) and `/healthz` on `host:port`. Bind it to
 * loopback or a private interface: the numbers are not secret, but nothing else should be here.
 */
export async function startMetricsServer(
  listen: string,
  metrics: Metrics,
  isHealthy: () => boolean,
): Promise<Server> {
  const i = listen.lastIndexOf(":");
  const host = i > 0 ? listen.slice(0, i) : "127.0.0.1";
  const port = Number(i >= 0 ? listen.slice(i + 1) : listen);
  const server = createServer((req, res) => {
    if (req.url === "/metrics") {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    if (req.url === "/healthz") {
      const ok = isHealthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
      res.end(ok ? "ok\n" : "stopping\n");
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}

import { existsSync } from "node:fs";
import { ConfigError, IMPLEMENTED_OUTPUTS, loadConfig } from "../config/index.js";
import { describeError } from "../core/errors.js";
import { createExporter, StartupError } from "../runtime/create-exporter.js";
import { createLogger } from "../telemetry/logger.js";
import { Metrics } from "../telemetry/metrics.js";
import { startMetricsServer } from "../telemetry/metrics-server.js";

/** `-c`, else $CANARY_EXPORTER_CONFIG, else ./config.yaml, else /config.yaml (the container's). */
export function resolveConfigPath(given: string | undefined, env = process.env): string {
  if (given) return given;
  if (env.CANARY_EXPORTER_CONFIG) return env.CANARY_EXPORTER_CONFIG;
  if (existsSync("config.yaml")) return "config.yaml";
  return "/config.yaml";
}

/**
 * `canary-exporter run`: validates the config and the start-up checks, then runs until SIGTERM
 * or SIGINT (graceful: see core/exporter.ts); a second signal releases in-flight work at once.
 * Exit codes: 0 after a clean stop, 1 when the config or a start-up check fails.
 */
export async function runCommand(opts: {
  configPath: string;
  err: NodeJS.WritableStream;
}): Promise<number> {
  let cfg: Awaited<ReturnType<typeof loadConfig>>;
  try {
    cfg = await loadConfig(opts.configPath, { implementedOutputs: IMPLEMENTED_OUTPUTS });
  } catch (e) {
    if (e instanceof ConfigError) {
      opts.err.write(
        `${e.format()}\nThe exporter did not start: fix the config and run again (check it with: canary-exporter validate -c ${opts.configPath}).\n`,
      );
      return 1;
    }
    throw e;
  }
  const logger = createLogger(cfg.log_level);
  const metrics = new Metrics({ defaultMetrics: true });
  let parts: Awaited<ReturnType<typeof createExporter>>;
  try {
    parts = await createExporter(cfg, { logger, metrics });
  } catch (e) {
    const message = e instanceof StartupError ? e.message : `start-up failed: ${describeError(e)}`;
    logger.error(message);
    opts.err.write(`${message}\nThe exporter did not start.\n`);
    return 1;
  }
  const { exporter } = parts;
  if (cfg.metrics?.listen) {
    await startMetricsServer(
      cfg.metrics.listen,
      metrics,
      () => exporter.currentState === "running",
    );
    logger.info({ listen: cfg.metrics.listen }, "metrics served at /metrics");
  }
  const onSignal = (sig: NodeJS.Signals) => exporter.stop(`${sig} received`);
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await exporter.run();
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  return 0;
}

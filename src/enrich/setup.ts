import type { Logger } from "pino";
import type { ExporterConfig } from "../config/index.js";
import type { StreamName } from "../config/schema.js";
import { describeError, ExporterError } from "../core/errors.js";
import type { Metrics } from "../telemetry/metrics.js";
import { RedCanaryApiClient, redCanaryApiUrl } from "./api-client.js";
import { EndpointDirectory } from "./endpoint-directory.js";
import { Enricher } from "./enricher.js";
import { RateLimiter } from "./rate-limiter.js";

/**
 * The record field that names the endpoint, per stream, when `endpoint_enrichment.join_field`
 * is not set. Every format Red Canary exports carries the EDR sensor's id as `sensor_id` at the
 * top level (native, standardized, cf-flattened), so that is the default everywhere.
 */
export function defaultJoinField(_stream: StreamName): string {
  return "sensor_id";
}

export interface Enrichment {
  readonly enricher: Enricher;
  readonly directory: EndpointDirectory;
  /**
   * The start-up check: loads the inventory (prefetch) or asks for one endpoint, so a wrong key
   * stops the start. Waits at most `waitMs` for a long inventory, which then goes on loading
   * in the background (lookups join it).
   */
  start(waitMs?: number): Promise<void>;
  close(): void;
}

/** Builds the enrichment stage from the config, or undefined when no API key is set. */
export function createEnrichment(
  cfg: ExporterConfig,
  deps: { logger: Logger; metrics: Metrics },
): Enrichment | undefined {
  const token = cfg.red_canary_authentication_token;
  if (token === undefined) return undefined;
  const settings = cfg.endpoint_enrichment;
  const logger = deps.logger.child({ component: "enrichment" });
  const { metrics } = deps;
  const limiter = new RateLimiter({
    limits: [
      { count: settings.requests_per_second, windowMs: 1000 },
      { count: settings.requests_per_minute, windowMs: 60_000 },
    ],
  });
  const api = new RedCanaryApiClient({
    baseUrl: settings.api_url ?? redCanaryApiUrl(cfg.customer_identifier),
    token,
    limiter,
    timeoutMs: settings.timeout_seconds * 1000,
    onRequest: (outcome) => metrics.apiRequests.inc({ outcome }),
  });
  const directory = new EndpointDirectory({
    api,
    maxEntries: cfg.endpoint_cache_size,
    ttlMs: settings.cache_ttl_seconds * 1000,
    negativeTtlMs: settings.negative_cache_ttl_seconds * 1000,
    match: settings.match,
    prefetch: settings.prefetch,
    perPage: settings.per_page,
    logger,
    events: { entries: (n) => metrics.endpointCacheEntries.set(n) },
  });
  const joinField = settings.join_field ?? defaultJoinField(cfg.input.stream_name);
  const enricher = new Enricher({
    resolver: directory,
    joinField,
    mergeKey: settings.merge_key,
    onApiFailure: settings.on_api_failure,
    logger,
    metrics,
  });
  return {
    enricher,
    directory,
    async start(waitMs = 30_000) {
      const check = settings.prefetch ? directory.start() : api.listEndpoints(1, 1);
      // Observed at once: a load that outlives the wait must not reject unhandled later.
      const settled = check.then(
        () => undefined,
        (err: unknown) => err,
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), waitMs);
      });
      const result = await Promise.race([settled, timeout]);
      clearTimeout(timer);
      if (result === "timeout") {
        logger.info(
          "the endpoint inventory is still loading (the API allows 20 requests a minute); records wait for the endpoints they need meanwhile",
        );
        void settled.then((err) => {
          if (err !== undefined) logFailure(err);
        });
        return;
      }
      if (result === undefined) {
        logger.info(
          { join_field: joinField, match: settings.match, cached_endpoints: directory.size },
          `endpoint enrichment on: records are joined on ${joinField}, metadata merged under ${settings.merge_key}`,
        );
        return;
      }
      if (result instanceof ExporterError && result.kind === "permanent") throw result;
      logFailure(result);
    },
    close: () => directory.close(),
  };

  function logFailure(err: unknown): void {
    logger.warn(
      { error_type: err instanceof ExporterError ? err.code : "api_failed" },
      `the Red Canary API did not answer the start-up check (${describeError(err)}); the exporter starts, and records ${settings.on_api_failure === "wait" ? "wait" : "are exported unenriched"} while the API cannot answer`,
    );
  }
}

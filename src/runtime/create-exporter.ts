import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Logger } from "pino";
import type { ExporterConfig } from "../config/index.js";
import { deriveQueueName } from "../config/queue.js";
import { Budget } from "../core/budget.js";
import { FileDeadLetterSink } from "../core/dead-letter.js";
import { describeError } from "../core/errors.js";
import { Exporter } from "../core/exporter.js";
import type { ObjectSource } from "../core/file-processor.js";
import { FileProcessor, type Route } from "../core/file-processor.js";
import { newInstanceId } from "../core/instance.js";
import { MessageHandler } from "../core/message-handler.js";
import { createEnrichment } from "../enrich/setup.js";
import { createInputClients } from "../input/aws-clients.js";
import { S3SelectSource } from "../input/s3-select-source.js";
import { S3ObjectSource } from "../input/s3-source.js";
import { SqsPoller } from "../input/sqs-poller.js";
import { probeWritableDirectory } from "../outputs/file/probe.js";
import { createOutput } from "../outputs/registry.js";
import { compileWhere } from "../select/where.js";
import type { Metrics } from "../telemetry/metrics.js";
import { compileFilter } from "../transforms/filter.js";

/** A start-up check failed: the daemon must not start. The message says what to do. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

export interface RunningParts {
  readonly exporter: Exporter;
  readonly poller: SqsPoller;
  readonly queueUrl: string;
  readonly instanceId: string;
}

/** Bytes of decoded records handed to outputs and not yet durable, across all files. */
const BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * Messages held at once, read or waiting for outputs. Memory is bounded by the byte budget, not
 * by this; it bounds the heartbeat's work and what a crash hands back to the queue at once.
 */
const MAX_IN_FLIGHT_MESSAGES = 500;

/**
 * The in-flight budget must let an object output fill its object: records wait in the object
 * until it reaches max_size_bytes, so a budget smaller than that would stall reading until the
 * flush interval. Twice the largest object keeps one filling while the previous one uploads.
 */
export function bytesInFlightBudget(cfg: ExporterConfig): number {
  let largestObject = 0;
  for (const o of cfg.outputs) {
    if (o.type === "s3" || o.type === "azure_blob" || o.type === "google_cloud_storage") {
      largestObject = Math.max(largestObject, o.config.max_size_bytes);
    }
  }
  return Math.max(BYTES_IN_FLIGHT, 2 * largestObject + 8 * 1024 * 1024);
}

/**
 * Builds the whole exporter from a validated config and runs the start-up checks (the queue is
 * reachable, every output is healthy). Throws StartupError with an actionable message otherwise.
 */
export async function createExporter(
  cfg: ExporterConfig,
  deps: { logger: Logger; metrics: Metrics },
): Promise<RunningParts> {
  const { logger, metrics } = deps;
  const instanceId = newInstanceId();
  const input = cfg.input;
  const { sqs, s3 } = createInputClients(input, input.max_concurrent_files);
  const queueUrl = await resolveQueue(sqs, cfg);

  const deadLetter = new FileDeadLetterSink(cfg.dead_letter.directory, instanceId);
  try {
    await probeWritableDirectory(cfg.dead_letter.directory);
  } catch (err) {
    throw new StartupError(
      `dead_letter.directory ${cfg.dead_letter.directory} is not writable: ${describeError(err)}; bad input could not be kept there`,
    );
  }
  let enrichment: ReturnType<typeof createEnrichment>;
  try {
    enrichment = createEnrichment(cfg, { logger, metrics });
    await enrichment?.start();
  } catch (err) {
    enrichment?.close();
    throw new StartupError(`endpoint enrichment failed its start-up check: ${describeError(err)}`);
  }
  const ctx = { instanceId, logger, deadLetter };
  const routes: Route[] = cfg.outputs.map((o) => ({
    output: createOutput(o, ctx),
    filter: compileFilter(o.config.export_only_where),
  }));
  for (const { output } of routes) {
    try {
      await output.healthcheck(AbortSignal.timeout(30_000));
    } catch (err) {
      // Release what the outputs built so far hold (client connections, lock files).
      await Promise.allSettled(routes.map((r) => r.output.close()));
      enrichment?.close();
      throw new StartupError(
        `output ${output.id} failed its start-up check: ${describeError(err)}`,
      );
    }
  }
  const files = new FileProcessor({
    ...selectStage(cfg, s3, { logger, metrics }),
    ...(enrichment ? { enricher: enrichment.enricher } : {}),
    routes,
    deadLetter,
    metrics,
    logger,
    bytesInFlight: new Budget(bytesInFlightBudget(cfg)),
  });
  const handler = new MessageHandler({
    files,
    fileSlots: new Budget(input.max_concurrent_files),
    deadLetter,
    metrics,
    logger,
    maxReceives: cfg.dead_letter.max_receives,
    onMaxReceives: cfg.dead_letter.on_max_receives,
    maxRetryDelaySeconds: Math.min(900, input.visibility_timeout_seconds),
  });
  const poller = new SqsPoller({
    sqs,
    queueUrl,
    handler,
    metrics,
    logger,
    maxReading: input.max_concurrent_files,
    maxInFlight: MAX_IN_FLIGHT_MESSAGES,
    visibilityTimeoutSeconds: input.visibility_timeout_seconds,
    waitTimeSeconds: input.wait_time_seconds,
  });
  const exporter = new Exporter({
    receiver: poller,
    outputs: routes.map((r) => r.output),
    deadLetter,
    ...(enrichment ? { onStopped: () => enrichment.close() } : {}),
    logger,
    graceMs: cfg.shutdown_grace_seconds * 1000,
  });
  logger.info({ queue_url: queueUrl, instance: instanceId }, "start-up checks passed");
  return { exporter, poller, queueUrl, instanceId };
}

async function resolveQueue(sqs: SQSClient, cfg: ExporterConfig): Promise<string> {
  const name = deriveQueueName(cfg);
  try {
    if (cfg.input.queue_url) {
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: cfg.input.queue_url,
          AttributeNames: ["QueueArn"],
        }),
      );
      return cfg.input.queue_url;
    }
    const res = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (!res.QueueUrl) throw new Error("GetQueueUrl returned no URL");
    return res.QueueUrl;
  } catch (err) {
    const code = (err as { name?: string }).name ?? "";
    const hint =
      code.includes("NonExistentQueue") || code.includes("QueueDoesNotExist")
        ? "check customer_identifier and input.stream_name (or set input.queue_url), and that Red Canary enabled this stream"
        : code.includes("Credentials") ||
            code.includes("AccessDenied") ||
            code.includes("Signature") ||
            code.includes("InvalidClientTokenId")
          ? "check input.aws_access_key_id / aws_secret_access_key (or the AWS credentials of this host)"
          : "check network access to SQS in input.aws_region";
    const queue = cfg.input.queue_url ?? name;
    throw new StartupError(
      `cannot reach SQS queue ${queue} in ${cfg.input.aws_region}: ${code || "error"}: ${describeError(err)}; ${hint}`,
    );
  }
}

/**
 * How objects are read and `input.s3_select_where` applied: S3 Select where the service offers
 * it (`auto`, `s3`), the clause evaluated by the exporter otherwise (`auto` after S3 said no,
 * `local`). The local predicate is always built: it applies to objects S3 did not filter.
 */
function selectStage(
  cfg: ExporterConfig,
  s3: ReturnType<typeof createInputClients>["s3"],
  deps: { logger: Logger; metrics: Metrics },
): { source: ObjectSource; select: ((record: unknown) => boolean) | null } {
  const getObject = new S3ObjectSource(s3, deps.metrics);
  const clause = cfg.input.s3_select_where;
  if (clause === undefined) return { source: getObject, select: null };
  const select = compileWhere(clause);
  const mode = cfg.input.s3_select_mode;
  if (mode === "local") {
    deps.logger.info(
      "input.s3_select_where is evaluated by the exporter (s3_select_mode: local): whole objects are read",
    );
    return { source: getObject, select };
  }
  const source = new S3SelectSource({
    s3,
    clause,
    mode,
    fallback: getObject,
    logger: deps.logger,
    metrics: deps.metrics,
  });
  return { source, select };
}

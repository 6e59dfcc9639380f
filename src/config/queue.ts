/** Which SQS queue an exporter polls. */
import type { ExporterConfig } from "./types.js";

/** SQS's limit on queue names. */
export const SQS_QUEUE_NAME_MAX_LENGTH = 80;

type QueueNaming = { customer_identifier: string; input: { stream_name: string } };

/**
 * The queue Red Canary provisions for this stream and customer:
 * `canaryexporter-<stream_name>-file-added-<customer_identifier>` (stream_name may end in
 * `-test`). Ignores `input.queue_url`; use queueTarget() for what to poll.
 */
export function deriveQueueName(cfg: QueueNaming): string {
  return `canaryexporter-${cfg.input.stream_name}-file-added-${cfg.customer_identifier}`;
}

export type QueueTarget =
  | { kind: "url"; queueUrl: string }
  /** Resolve with SQS GetQueueUrl in the input's region. */
  | { kind: "name"; queueName: string };

/** `input.queue_url` when set, else the derived name. */
export function queueTarget(
  cfg: Pick<ExporterConfig, "customer_identifier" | "input">,
): QueueTarget {
  return cfg.input.queue_url
    ? { kind: "url", queueUrl: cfg.input.queue_url }
    : { kind: "name", queueName: deriveQueueName(cfg) };
}

/** One line for humans: the name or URL, and where it came from. */
export function describeQueue(cfg: Pick<ExporterConfig, "customer_identifier" | "input">): string {
  const target = queueTarget(cfg);
  return target.kind === "url"
    ? `${target.queueUrl} (from input.queue_url)`
    : `${target.queueName} (from input.stream_name and customer_identifier)`;
}

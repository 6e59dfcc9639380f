/**
 * Names of what Red Canary provisions per customer (from the seed guide): SNS topics per
 * external-service namespace, SQS queues per customer short name, `-test` queues subscribed to
 * the same topics.
 */

export type StreamType = "native" | "standardized" | "cf-flattened";
export type StreamName = StreamType | `${StreamType}-test`;

export const STREAM_TYPES: readonly StreamType[] = ["native", "standardized", "cf-flattened"];
export const STREAM_NAMES: readonly StreamName[] = STREAM_TYPES.flatMap((t) => [
  t,
  `${t}-test` as const,
]);

/** The stream type a stream name reads: `standardized-test` reads `standardized`. */
export function streamTypeOf(stream: StreamName): StreamType {
  return stream.replace(/-test$/, "") as StreamType;
}

export function isStreamName(s: string): s is StreamName {
  return (STREAM_NAMES as readonly string[]).includes(s);
}

/** `rc-native-file-added-<ns>`, `rc-standardizer-file-added-<ns>`, `rc-cf-flattened-file-added-<ns>`. */
export function topicName(stream: StreamType, namespace: string): string {
  const word = stream === "standardized" ? "standardizer" : stream;
  return `rc-${word}-file-added-${namespace}`;
}

/** `canaryexporter-<stream>[-test]-file-added-<customer>`. */
export function queueName(stream: StreamName, customer: string): string {
  return `canaryexporter-${stream}-file-added-${customer}`;
}

/** The simulated telemetry bucket of a namespace. */
export function bucketName(namespace: string): string {
  return `rc-telemetry-${namespace}`.toLowerCase();
}

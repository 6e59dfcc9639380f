/**
 * Pub/Sub errors carry a gRPC status code. This maps them to our two classes: `retryable` when
 * the same publish can succeed later (the client has already retried these for a while), and
 * `permanent` when an operator must act (missing topic, permissions, credentials). The
 * pipeline retries both; the class decides the log level and the message.
 */
import { ExporterError } from "../../core/errors.js";

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES = new Map<number, string>(
  Object.entries(GrpcStatus).map(([name, code]) => [code, name]),
);

/** Transient statuses: the ones Google's client itself retries for Publish. */
const TRANSIENT = new Set<number>([
  GrpcStatus.CANCELLED,
  GrpcStatus.UNKNOWN,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNAVAILABLE,
]);

/** The gRPC status of an error from the client, when it has one. */
export function grpcStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** What the server said, bounded; gRPC errors hold no credentials, but may be long. */
function detailsOf(err: unknown): string {
  const e = err as { details?: unknown; message?: unknown } | null;
  const text =
    typeof e?.details === "string" && e.details !== ""
      ? e.details
      : typeof e?.message === "string"
        ? e.message
        : String(err);
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/**
 * Errors from loading or using the credentials. grpc-js reports a failed token fetch as
 * UNAVAILABLE ("Getting metadata from plugin failed"), so the message is what tells them apart.
 */
function isCredentialsProblem(err: unknown): boolean {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== "string") return false;
  return (
    message.includes("Getting metadata from plugin failed") ||
    message.includes("Could not load the default credentials") ||
    message.includes("invalid_grant") ||
    message.includes("Could not refresh access token")
  );
}

/**
 * The ExporterError for a failed call about `topic` (its full name, or topic_name as written).
 * `action` says what was being done, for the message: "publish to", "check".
 */
export function toPubSubError(err: unknown, topic: string, action = "publish to"): ExporterError {
  if (err instanceof ExporterError) return err;
  const status = grpcStatus(err);
  const name = status === undefined ? undefined : (STATUS_NAMES.get(status) ?? `status ${status}`);
  const said = `${name ? `${name}: ` : ""}${detailsOf(err)}`;
  const fail = (code: string, kind: "retryable" | "permanent", message: string) =>
    new ExporterError(code, kind, message, { cause: err });

  if (isCredentialsProblem(err)) {
    return fail(
      "pubsub_credentials",
      "permanent",
      `cannot ${action} Pub/Sub topic ${topic}: the Google credentials could not be used (${said}); check credentials_json or the application default credentials`,
    );
  }
  switch (status) {
    case GrpcStatus.NOT_FOUND:
      return fail(
        "pubsub_topic_not_found",
        "permanent",
        `Pub/Sub topic ${topic} does not exist; create it or correct topic_name (${said})`,
      );
    case GrpcStatus.PERMISSION_DENIED:
      return fail(
        "pubsub_permission_denied",
        "permanent",
        `the credentials may not ${action} Pub/Sub topic ${topic} (${said}); grant them roles/pubsub.publisher on the topic`,
      );
    case GrpcStatus.UNAUTHENTICATED:
      return fail(
        "pubsub_unauthenticated",
        "permanent",
        `Google refused the credentials for Pub/Sub topic ${topic} (${said}); check credentials_json or the application default credentials`,
      );
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.FAILED_PRECONDITION:
      return fail(
        `pubsub_${name?.toLowerCase()}`,
        "permanent",
        `Pub/Sub refused the request to ${action} topic ${topic} (${said}); if the topic has a schema, it must accept these JSON records`,
      );
    case GrpcStatus.OK:
      // The client's own refusal, such as "Cannot use a closed PubSub object".
      return fail("pubsub_client", "permanent", `cannot ${action} Pub/Sub topic ${topic}: ${said}`);
    default:
      if (status !== undefined && TRANSIENT.has(status)) {
        return fail(
          `pubsub_${name?.toLowerCase()}`,
          "retryable",
          `cannot ${action} Pub/Sub topic ${topic} for now (${said})`,
        );
      }
      return fail(
        status === undefined ? "pubsub_failed" : `pubsub_${name?.toLowerCase()}`,
        "retryable",
        `cannot ${action} Pub/Sub topic ${topic} (${said})`,
      );
  }
}

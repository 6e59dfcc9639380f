import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay, sleep } from "../../core/backoff.js";
import { ExporterError } from "../../core/errors.js";
import { classifyKinesisError, describeLocation, isTransientEntryError } from "./errors.js";
import type { KinesisStreamApi, PutEntry } from "./stream.js";

export interface RetryPolicy {
  /** PutRecords calls per request before its remaining entries are given up as retryable. */
  readonly attempts: number;
  readonly backoff: BackoffOptions;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 10,
  backoff: { baseMs: 100, maxMs: 5_000 },
};

export interface RequestHooks<T> {
  /** Called as entries are stored (possibly several times for one request). */
  onStored(items: readonly T[]): void;
  /** Called once, with the entries that will not be stored by this request. */
  onFailed(items: readonly T[], error: ExporterError): void;
  /** False for an entry no longer worth sending (its write already failed): not retried. */
  wanted?(item: T): boolean;
}

/** From this many failed calls on, a request's retries are logged at WARN (once per request). */
const WARN_AFTER_FAILURES = 3;

/**
 * Sends one PutRecords request and keeps at it until every entry is stored. A partial failure
 * (`FailedRecordCount` > 0) resends only the failed entries, in their order; a throttled, 5xx or
 * network failure of the whole call resends the same entries; both wait with exponential backoff
 * and full jitter. A permanent error (missing stream, refused credentials, a KMS key that cannot
 * be used) ends it at once; `attempts` calls without success end it with a retryable error. Then
 * `onFailed` gets the entries left: the pipeline retries their writes later, with the SQS message
 * still in flight, so nothing is lost. Never rejects.
 */
export async function putWithRetries<T extends { readonly put: PutEntry }>(
  stream: KinesisStreamApi,
  items: readonly T[],
  policy: RetryPolicy,
  hooks: RequestHooks<T>,
  logger: Logger,
): Promise<void> {
  let pending = items;
  let lastProblem = "";
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    if (attempt > 0) {
      if (attempt === WARN_AFTER_FAILURES) {
        logger.warn(
          { attempts: attempt, records: pending.length, stream: stream.location.streamName },
          `PutRecords to ${describeLocation(stream.location)} keeps failing (${lastProblem}); retrying with backoff. Sustained throttling means the stream needs more shards (or on-demand mode)`,
        );
      }
      await sleep(backoffDelay(attempt - 1, policy.backoff));
      if (hooks.wanted) pending = pending.filter((i) => hooks.wanted?.(i) ?? true);
      if (pending.length === 0) return;
    }
    let results: Awaited<ReturnType<KinesisStreamApi["putRecords"]>>;
    try {
      results = await stream.putRecords(pending.map((i) => i.put));
    } catch (err) {
      const error = classifyKinesisError(err, stream.location);
      if (error.kind === "permanent") {
        hooks.onFailed(pending, error);
        return;
      }
      lastProblem = error.message;
      logger.debug(
        { attempt: attempt + 1, records: pending.length, error_type: error.code },
        `PutRecords failed, retrying: ${error.message}`,
      );
      continue;
    }
    const stored: T[] = [];
    const retry: T[] = [];
    const permanent: T[] = [];
    const codes = new Map<string, number>();
    results.forEach((r, i) => {
      const item = pending[i] as T;
      if (!r.errorCode) {
        stored.push(item);
        return;
      }
      codes.set(r.errorCode, (codes.get(r.errorCode) ?? 0) + 1);
      (isTransientEntryError(r.errorCode) ? retry : permanent).push(item);
    });
    if (stored.length > 0) hooks.onStored(stored);
    const summary = [...codes].map(([code, n]) => `${n} x ${code}`).join(", ");
    if (permanent.length > 0) {
      hooks.onFailed(
        permanent,
        new ExporterError(
          "kinesis_rejected",
          "permanent",
          `${describeLocation(stream.location)} rejected ${permanent.length} records: ${summary}`,
        ),
      );
    }
    if (retry.length === 0) return;
    lastProblem = `${retry.length} of ${pending.length} records failed (${summary})`;
    logger.debug({ attempt: attempt + 1, failed: retry.length }, `PutRecords: ${lastProblem}`);
    pending = retry;
  }
  hooks.onFailed(
    pending,
    new ExporterError(
      "kinesis_unavailable",
      "retryable",
      `${describeLocation(stream.location)}: ${pending.length} records not stored after ${policy.attempts} attempts; last: ${lastProblem}`,
    ),
  );
}

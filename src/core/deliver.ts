import type { Logger } from "pino";
import type { Metrics } from "../telemetry/metrics.js";
import { backoffDelay, sleep } from "./backoff.js";
import { describeError, ExporterError } from "./errors.js";
import type { Output, RecordBatch } from "./types.js";

export interface DeliveryOptions {
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Writes one batch to one output and resolves when it is durable there. A failing output is
 * retried on its own, with backoff, for as long as it takes: its records wait in SQS (the
 * message stays invisible through the visibility heartbeat) instead of being dropped, and the
 * outputs that already succeeded are not written again. Only the signal (shutdown) ends the
 * retries; the caller then releases the message so the work is redone later.
 */
export async function deliver(output: Output, batch: RecordBatch, opts: DeliveryOptions) {
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 30_000;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal.aborted) throw opts.signal.reason;
    try {
      await output.write(batch);
      opts.metrics.recordsSent.inc({ output: output.id }, batch.records.length);
      if (attempt > 0) {
        opts.logger.info({ output: output.id, attempts: attempt + 1 }, "output recovered");
      }
      return;
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      const permanent = err instanceof ExporterError && err.kind === "permanent";
      const code = err instanceof ExporterError ? err.code : "write_failed";
      opts.metrics.errors.inc({ error_type: code, stage: "sending" });
      const delay = backoffDelay(attempt, { baseMs: base, maxMs: max });
      // Permanent errors need an operator (permissions): ERROR. Transient ones are expected
      // now and then: WARN, and only every few attempts once they repeat; one that persists
      // (a full disk, an outage) needs an operator too, so it becomes ERROR.
      if (permanent || attempt < 3 || attempt % 10 === 0) {
        opts.logger[permanent || attempt >= 5 ? "error" : "warn"](
          {
            output: output.id,
            error_type: code,
            attempt: attempt + 1,
            retry_in_ms: delay,
            object: batch.source.key,
          },
          `output ${output.id} failed to write ${batch.records.length} records: ${describeError(err)}; retrying, the SQS message stays in flight until it succeeds`,
        );
      }
      await sleep(delay, opts.signal);
    }
  }
}

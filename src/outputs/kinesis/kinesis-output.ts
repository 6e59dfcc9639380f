import type { Logger } from "pino";
import { describeError, ExporterError } from "../../core/errors.js";
import type {
  Output,
  OutputContext,
  RecordBatch,
  SourceRef,
  TelemetryRecord,
} from "../../core/types.js";
import type { KinesisOutputConfig } from "./config.js";
import { classifyKinesisError, describeLocation } from "./errors.js";
import { PendingWrite } from "./pending-write.js";
import { DEFAULT_RETRY_POLICY, putWithRetries, type RetryPolicy } from "./put-with-retries.js";
import { KEY_FIELDS, KINESIS_LIMITS, type KinesisEntry, toEntry } from "./records.js";
import type { KinesisStreamApi, PutEntry } from "./stream.js";

export interface KinesisOutputOptions {
  readonly stream: KinesisStreamApi;
  /** A buffer that is not full is sent this long after its oldest record arrived. */
  readonly lingerMs?: number;
  /** PutRecords requests in flight at once (each retried on its own). */
  readonly maxInFlightRequests?: number;
  readonly retry?: RetryPolicy;
  readonly now?: () => number;
}

/** The most any stream can take per record or per request (MaxRecordSizeInKiB up to 10 MiB). */
const SERVICE_MAX_BYTES = 10 * 1024 * 1024;

interface Queued {
  readonly entry: KinesisEntry;
  readonly write: PendingWrite;
  readonly enqueuedAt: number;
}

interface InFlight {
  readonly put: PutEntry;
  readonly write: PendingWrite;
}

/**
 * The `kinesis` output. Records are queued in arrival order (a batch's records stay together
 * and in order) and sent with PutRecords in requests of at most
 * `max_records_to_buffer_before_sending` records and 5 MiB, as soon as a request is full or
 * `lingerMs` after its oldest record, with up to `maxInFlightRequests` requests at once. A
 * `write` resolves when each of its records is acknowledged by Kinesis (or, for a record larger
 * than the stream takes, durable in the dead letter). Failed entries of a partial failure are
 * resent alone, with backoff (see put-with-retries.ts).
 */
export class KinesisOutput implements Output {
  readonly type = "kinesis";
  /** The partition key is read from the record (see records.ts). */
  readonly recordFields = KEY_FIELDS;
  private readonly stream: KinesisStreamApi;
  private readonly logger: Logger;
  private readonly maxRecords: number;
  private readonly lingerMs: number;
  private readonly maxInFlight: number;
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  /** Learned from the stream at the health check; 1 MiB (the default) until then. */
  private maxRecordBytes: number = KINESIS_LIMITS.bytesPerRecord;
  private queue: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** Entries at the head of the queue that go out without waiting (asked for by `flush`). */
  private forced = 0;
  private inFlight = 0;
  /** Requests running, including retries of entries whose write already failed. */
  private readonly requests = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly writes = new Set<PendingWrite>();
  private closed = false;

  constructor(
    cfg: KinesisOutputConfig,
    private readonly ctx: OutputContext,
    readonly id: string,
    opts: KinesisOutputOptions,
  ) {
    this.stream = opts.stream;
    this.logger = ctx.logger.child({ output: id });
    this.maxRecords = Math.min(
      cfg.max_records_to_buffer_before_sending,
      KINESIS_LIMITS.recordsPerRequest,
    );
    this.lingerMs = opts.lingerMs ?? 200;
    this.maxInFlight = opts.maxInFlightRequests ?? 4;
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY;
    this.now = opts.now ?? Date.now;
  }

  /** Largest request in bytes: 5 MiB, or one record of the stream's maximum size if larger. */
  private get maxRequestBytes(): number {
    return Math.max(KINESIS_LIMITS.bytesPerRequest, this.maxRecordBytes);
  }

  /** DescribeStreamSummary: the stream exists, the credentials may see it, it takes writes. */
  async healthcheck(signal?: AbortSignal): Promise<void> {
    const where = describeLocation(this.stream.location);
    let summary: Awaited<ReturnType<KinesisStreamApi["describe"]>>;
    try {
      summary = await this.stream.describe(signal);
    } catch (err) {
      throw classifyKinesisError(err, this.stream.location);
    }
    // UPDATING (resharding, retention changes) still takes writes.
    if (summary.status !== "ACTIVE" && summary.status !== "UPDATING") {
      throw new ExporterError(
        "stream_not_active",
        summary.status === "CREATING" ? "retryable" : "permanent",
        `${where} is ${summary.status}, not ACTIVE: it cannot take records${summary.status === "CREATING" ? " yet; start again once it is ACTIVE" : ""}`,
      );
    }
    if (summary.maxRecordBytes) {
      this.maxRecordBytes = Math.min(summary.maxRecordBytes, SERVICE_MAX_BYTES);
    }
  }

  write(batch: RecordBatch): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new ExporterError("output_closed", "permanent", `output ${this.id} is closed`),
      );
    }
    if (batch.records.length === 0) return Promise.resolve();
    const write = new PendingWrite(batch.records.length, (w) => this.writes.delete(w));
    this.writes.add(write);
    const enqueuedAt = this.now();
    for (const record of batch.records) {
      const entry = toEntry(record);
      if (entry.size > this.maxRecordBytes) {
        this.deadLetter(batch.source, record, entry, write);
        continue;
      }
      this.queue.push({ entry, write, enqueuedAt });
      this.queuedBytes += entry.size;
    }
    this.pump();
    return write.promise;
  }

  /**
   * Sends everything buffered now and resolves once every write so far has settled and no
   * request is running (so `close` never pulls the client from under a retry).
   */
  async flush(): Promise<void> {
    this.forced = this.queue.length - this.head;
    this.pump();
    await Promise.allSettled([...this.writes].map((w) => w.promise));
    await Promise.allSettled([...this.requests]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stream.destroy();
  }

  /** A record the stream can never take goes to the dead letter; its write waits for that. */
  private deadLetter(
    source: SourceRef,
    record: TelemetryRecord,
    entry: KinesisEntry,
    w: PendingWrite,
  ) {
    const reason = `record of ${entry.size} bytes (data plus partition key) exceeds the ${this.maxRecordBytes} bytes Kinesis takes per record in ${describeLocation(this.stream.location)}`;
    this.logger.warn(
      { source, bytes: entry.size, limit: this.maxRecordBytes },
      `a record of s3://${source.bucket}/${source.key} is too large for Kinesis (${entry.size} bytes); written to the dead letter (rejected-records) instead`,
    );
    this.ctx.deadLetter
      .write({ kind: "rejected_record", source, output: this.id, reason, raw: record.raw })
      .then(
        () => w.done(1),
        (err: unknown) =>
          w.fail(
            new ExporterError(
              "dead_letter_failed",
              "retryable",
              `could not write a too-large record to the dead letter: ${describeError(err)}`,
              { cause: err },
            ),
          ),
      );
  }

  /** Starts as many requests as are ready and may run; arms the linger timer otherwise. */
  private pump(): void {
    while (this.inFlight < this.maxInFlight) {
      this.dropSettledHead();
      if (this.head >= this.queue.length) {
        this.forced = 0;
        this.disarm();
        return;
      }
      if (!this.ready()) {
        this.arm();
        return;
      }
      const items = this.take();
      if (items.length === 0) continue;
      this.inFlight++;
      const request: Promise<void> = this.send(items).finally(() => {
        this.requests.delete(request);
        this.requestEnded();
      });
      this.requests.add(request);
    }
  }

  private ready(): boolean {
    const oldest = this.queue[this.head];
    return (
      this.forced > 0 ||
      this.queue.length - this.head >= this.maxRecords ||
      this.queuedBytes >= this.maxRequestBytes ||
      (oldest !== undefined && this.now() - oldest.enqueuedAt >= this.lingerMs)
    );
  }

  /** The next request: up to maxRecords entries and maxRequestBytes, at least one entry. */
  private take(): InFlight[] {
    const items: InFlight[] = [];
    let bytes = 0;
    while (this.head < this.queue.length && items.length < this.maxRecords) {
      const q = this.queue[this.head] as Queued;
      // Records of a write that already failed are not sent: the whole batch comes again.
      if (!q.write.settled) {
        if (items.length > 0 && bytes + q.entry.size > this.maxRequestBytes) break;
        items.push({
          put: { data: Buffer.from(q.entry.text, "utf8"), partitionKey: q.entry.partitionKey },
          write: q.write,
        });
        bytes += q.entry.size;
      }
      this.advance(q);
    }
    this.compact();
    return items;
  }

  private dropSettledHead(): void {
    while (this.head < this.queue.length && (this.queue[this.head] as Queued).write.settled) {
      this.advance(this.queue[this.head] as Queued);
    }
    this.compact();
  }

  private advance(q: Queued): void {
    this.head++;
    this.queuedBytes -= q.entry.size;
    if (this.forced > 0) this.forced--;
  }

  /** Drops consumed entries from the array now and then (amortized O(1) per entry). */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private async send(items: InFlight[]): Promise<void> {
    try {
      await putWithRetries(
        this.stream,
        items,
        this.retry,
        {
          onStored: (stored) => {
            for (const i of stored) i.write.done(1);
          },
          onFailed: (failed, error) => {
            for (const i of failed) i.write.fail(error);
          },
          wanted: (i) => !i.write.settled,
        },
        this.logger,
      );
    } catch (err) {
      // Not expected (putWithRetries reports through its hooks); never leave a write hanging.
      const error = new ExporterError("kinesis_put_failed", "retryable", describeError(err), {
        cause: err,
      });
      for (const i of items) i.write.fail(error);
    }
  }

  private requestEnded(): void {
    this.inFlight--;
    this.pump();
  }

  private arm(): void {
    if (this.timer) return;
    const oldest = this.queue[this.head];
    const wait = oldest ? Math.max(0, oldest.enqueuedAt + this.lingerMs - this.now()) : 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * The vocabulary every component shares. The core knows no vendor: inputs hand it
 * records, outputs take batches of them and say when they are durable.
 */

/** Where a record came from: the S3 object and, when known, its 1-based line number. */
export interface SourceRef {
  readonly bucket: string;
  readonly key: string;
}

/** One telemetry record. */
export interface TelemetryRecord {
  /** The JSON text as it is written to outputs (no trailing newline). */
  readonly raw: string;
  /** The parsed record, used by filters and enrichment. Never mutated in place. */
  readonly value: Readonly<Record<string, unknown>>;
}

/** A slice of one object's records, in file order. */
export interface RecordBatch {
  readonly source: SourceRef;
  readonly records: readonly TelemetryRecord[];
  /** UTF-8 bytes of all `raw` texts plus one newline each: what a JSON-lines writer writes. */
  readonly bytes: number;
}

/** What every output gets at construction. */
export interface OutputContext {
  /** Unique per running process, safe in file and object names (see core/instance.ts). */
  readonly instanceId: string;
  readonly logger: import("pino").Logger;
  /** Where a record the destination can never take (too large for Kinesis) goes, with why. */
  readonly deadLetter: DeadLetterSink;
}

/**
 * One destination. Contract (the pipeline relies on it):
 * - `write` resolves only when every record of the batch is durable at the destination
 *   (fsynced, uploaded, acknowledged by the service). It rejects with an ExporterError whose
 *   `kind` tells the pipeline whether retrying can help. Calls may overlap; an output
 *   keeps the records of one batch in order.
 * - `flush` makes everything written so far durable and resolves the pending writes.
 * - `close` flushes, then releases resources; no write follows it.
 * - `healthcheck` fails (rejects) when the output cannot work at all (missing directory
 *   permissions, missing bucket, bad credentials), so a bad setup never starts the daemon.
 */
export interface Output {
  /** Stable name for logs and metrics, such as `file[0]`. */
  readonly id: string;
  readonly type: string;
  /**
   * The top-level fields of `record.value` that `write` reads (a partition key, message
   * attributes). Once records are routed the pipeline keeps only the fields some output names
   * here and drops the rest of the parsed record, which would otherwise stay in memory until
   * the write is durable. Absent: the output reads only `raw`.
   */
  readonly recordFields?: readonly string[];
  healthcheck(signal?: AbortSignal): Promise<void>;
  write(batch: RecordBatch): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A local, durable place for what could not be delivered, with the reason. */
export interface DeadLetterSink {
  /** Resolves when the entry is durable (fsynced). */
  write(entry: DeadLetterEntry): Promise<void>;
  close(): Promise<void>;
}

export type DeadLetterEntry =
  | {
      readonly kind: "invalid_record";
      readonly source: SourceRef;
      readonly line: number;
      readonly reason: string;
      /** The line as read, cut to a bounded length when huge. */
      readonly raw: string;
    }
  | {
      /** A record an output can never accept (e.g. over Kinesis' 1 MB), with the output's id. */
      readonly kind: "rejected_record";
      readonly source: SourceRef;
      readonly output: string;
      readonly reason: string;
      readonly raw: string;
    }
  | {
      readonly kind: "failed_file";
      readonly source: SourceRef;
      readonly messageId: string;
      readonly reason: string;
    }
  | {
      readonly kind: "failed_message";
      readonly messageId: string;
      readonly receiveCount: number;
      readonly reason: string;
      /** The SQS message body as received. */
      readonly body: string;
    };

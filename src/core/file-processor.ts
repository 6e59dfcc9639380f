import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { decodeObjectStream } from "../input/decode.js";
import { readRecordBatches } from "../input/lines.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { Budget } from "./budget.js";
import { deliver } from "./deliver.js";
import { describeError, ExporterError } from "./errors.js";
import { PendingSet } from "./pending.js";
import type { DeadLetterSink, Output, RecordBatch, SourceRef, TelemetryRecord } from "./types.js";

/** An opened object: its bytes (JSON lines, maybe gzip) as a stream. */
export interface OpenedObject {
  readonly body: Readable;
  readonly contentLength?: number;
  /**
   * True when the service already applied `input.s3_select_where` (S3 Select): the pipeline
   * then does not evaluate it again. False or absent: every record of the object is in `body`.
   */
  readonly preselected?: boolean;
}

/** Where objects come from (S3 GetObject or S3 Select). */
export interface ObjectSource {
  /** Opens the object as a byte stream; rejects with an ExporterError saying if a retry helps. */
  open(ref: SourceRef, signal: AbortSignal): Promise<OpenedObject>;
}

/** An output with the predicate of its `export_only_where` (null: everything). */
export interface Route {
  readonly output: Output;
  readonly filter: ((value: Readonly<Record<string, unknown>>) => boolean) | null;
}

export type FileOutcome =
  /** Every record reached every output that wants it (invalid lines are in the dead letter). */
  | { readonly status: "done"; readonly records: number; readonly invalid: number }
  /** The object can never be read whole (missing, corrupt); recorded in the dead letter. */
  | { readonly status: "rejected"; readonly error: ExporterError }
  /** A transient failure: the message must come back later. */
  | { readonly status: "retry"; readonly error: unknown }
  /** Shutdown interrupted the work: release the message at once. */
  | { readonly status: "aborted" };

export interface FileProcessorDeps {
  readonly source: ObjectSource;
  readonly routes: readonly Route[];
  readonly deadLetter: DeadLetterSink;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Bounds decoded bytes handed to outputs and not yet durable, across all files. */
  readonly bytesInFlight: Budget;
  /**
   * `input.s3_select_where` compiled for local evaluation; applied to objects the source did
   * not already filter (`preselected`). Null or absent: no WHERE clause.
   */
  readonly select?: ((record: unknown) => boolean) | null;
  /** Merges endpoint metadata before routing (may wait on the API); absent: no enrichment. */
  readonly enricher?: {
    enrich(records: readonly TelemetryRecord[], signal: AbortSignal): Promise<TelemetryRecord[]>;
  };
  readonly batchRecords?: number;
  readonly batchBytes?: number;
  readonly maxLineBytes?: number;
}

/** Invalid lines logged one by one per file before switching to a summary at the end. */
const INVALID_LINES_LOGGED = 5;

/**
 * Streams one object through decode -> lines -> per-output filter -> outputs. Reading never
 * waits for outputs beyond the in-flight byte budget, so a slow output slows the reader without
 * blocking the other files. `process` resolves when every write it started has settled.
 */
export class FileProcessor {
  constructor(private readonly deps: FileProcessorDeps) {}

  /**
   * `onReadComplete` is called once the object has been read to its end (or failed), before
   * the outputs' writes have settled: the caller can then start reading another file while
   * this one's records wait to become durable (the in-flight byte budget bounds them).
   */
  async process(
    ref: SourceRef,
    messageId: string,
    signal: AbortSignal,
    onReadComplete?: () => void,
  ): Promise<FileOutcome> {
    const { metrics, logger } = this.deps;
    const log = logger.child({ message_id: messageId, bucket: ref.bucket, object: ref.key });
    const pending = new PendingSet();
    let records = 0;
    let invalid = 0;
    let failure: unknown;
    try {
      const { body, contentLength, preselected } = await this.deps.source.open(ref, signal);
      const select = preselected ? null : (this.deps.select ?? null);
      const decoded = decodeObjectStream(body, { expectedBytes: contentLength, signal });
      for await (const chunk of readRecordBatches(decoded, {
        source: ref,
        maxLineBytes: this.deps.maxLineBytes,
        batchRecords: this.deps.batchRecords,
        batchBytes: this.deps.batchBytes,
      })) {
        for (const bad of chunk.invalid) {
          invalid++;
          metrics.invalidRecords.inc();
          if (invalid <= INVALID_LINES_LOGGED) {
            log.warn(
              { line: bad.line, reason: bad.reason },
              `invalid record at line ${bad.line} of s3://${ref.bucket}/${ref.key}: ${bad.reason}; kept in the dead-letter directory, the rest of the file goes on`,
            );
          }
          pending.add(
            this.deps.deadLetter.write({
              kind: "invalid_record",
              source: ref,
              line: bad.line,
              reason: bad.reason,
              raw: bad.raw,
            }),
          );
        }
        if (chunk.records.length === 0) continue;
        records += chunk.records.length;
        metrics.recordsReceived.inc(chunk.records.length);
        let batch = chunk.records;
        let bytes = chunk.bytes;
        if (select) {
          batch = batch.filter((r) => select(r.value));
          if (batch.length < chunk.records.length) {
            metrics.selectDiscarded.inc(chunk.records.length - batch.length);
            bytes = byteLength(batch);
          }
          if (batch.length === 0) continue;
        }
        if (this.deps.enricher) {
          batch = await this.deps.enricher.enrich(batch, signal);
          bytes = byteLength(batch);
        }
        await this.deps.bytesInFlight.acquire(bytes, signal);
        const write = this.route(ref, batch, bytes, signal).finally(() =>
          this.deps.bytesInFlight.release(bytes),
        );
        pending.add(write);
      }
    } catch (err) {
      failure = err;
    }
    onReadComplete?.();
    const writeFailure = await pending.settled();
    if (invalid > INVALID_LINES_LOGGED) {
      log.warn(
        { invalid },
        `${invalid} invalid records in s3://${ref.bucket}/${ref.key}, all kept in the dead-letter directory`,
      );
    }
    if (signal.aborted) return { status: "aborted" };
    if (writeFailure) return { status: "retry", error: writeFailure.error };
    if (failure === undefined) {
      metrics.filesProcessed.inc();
      return { status: "done", records, invalid };
    }
    const code = failure instanceof ExporterError ? failure.code : "read_failed";
    metrics.errors.inc({ error_type: code, stage: "receiving" });
    if (failure instanceof ExporterError && failure.kind === "permanent") {
      await this.deps.deadLetter.write({
        kind: "failed_file",
        source: ref,
        messageId,
        reason: `${code}: ${failure.message} (after ${records} records were exported)`,
      });
      log.error(
        { error_type: code, records_exported: records },
        `cannot read s3://${ref.bucket}/${ref.key}: ${failure.message}; ${records} records before the problem were exported, the file is recorded in the dead-letter directory and the rest of the message goes on`,
      );
      return { status: "rejected", error: failure };
    }
    log.warn(
      { error_type: code, records_exported: records },
      `reading s3://${ref.bucket}/${ref.key} failed: ${describeError(failure)}; the message will be retried`,
    );
    return { status: "retry", error: failure };
  }

  /** Sends one decoded chunk to every output whose filter wants some of it. */
  private async route(
    source: SourceRef,
    records: readonly TelemetryRecord[],
    bytes: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { metrics, logger } = this.deps;
    const writes: Promise<void>[] = [];
    for (const route of this.deps.routes) {
      const selected = route.filter ? records.filter((r) => route.filter?.(r.value)) : records;
      const discarded = records.length - selected.length;
      if (discarded > 0) metrics.recordsFiltered.inc({ output: route.output.id }, discarded);
      if (selected.length === 0) continue;
      const batch: RecordBatch = {
        source,
        records: selected,
        bytes: selected === records ? bytes : byteLength(selected),
      };
      writes.push(deliver(route.output, batch, { signal, logger, metrics }));
    }
    await Promise.all(writes);
  }
}

function byteLength(records: readonly TelemetryRecord[]): number {
  let n = 0;
  for (const r of records) n += Buffer.byteLength(r.raw) + 1;
  return n;
}

import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { decodeObjectStream } from "../input/decode.js";
import { type LineBatch, readRecordBatches } from "../input/lines.js";
import type { Metrics } from "../telemetry/metrics.js";
import { type BackoffOptions, backoffDelay, sleep } from "./backoff.js";
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
  /**
   * What was read: the object's ETag and how it was read (GetObject, S3 Select). A read that
   * failed part-way resumes on a new open only when this is set and the same, so that skipping
   * the lines already handed on skips the same lines. Absent: a failed read is never resumed.
   */
  readonly version?: string;
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
    enrich(
      records: readonly TelemetryRecord[],
      signal: AbortSignal,
    ): Promise<{ readonly records: TelemetryRecord[]; readonly addedBytes: number }>;
  };
  readonly batchRecords?: number;
  readonly batchBytes?: number;
  readonly maxLineBytes?: number;
  /** Waits before resuming a read that failed part-way. Default 1 s growing to 8 s. */
  readonly resumeBackoff?: BackoffOptions;
}

/** Invalid lines logged one by one per file before switching to a summary at the end. */
const INVALID_LINES_LOGGED = 5;

/**
 * A read that fails part-way is resumed in place, its message kept in flight: up to this many
 * times in a row without a new batch handed on, after waits growing from 1 s.
 */
const MAX_RESUMES = 3;
const RESUME_BACKOFF = { baseMs: 1_000, maxMs: 8_000 };

/** What a file's reads have done so far (shared by a first read and its resumes). */
interface ReadState {
  readonly pending: PendingSet;
  records: number;
  invalid: number;
  /** Lines wholly handed on (the last line of the last batch): a resumed read passes them over. */
  handled: number;
}

/**
 * A failure worth reading the object again for, without giving its message back: a retryable
 * read error (a cut or stalled download, an S3 Select stream that broke off, a 5xx on the
 * re-open) of an object whose version is known.
 */
function resumable(err: unknown, version: string | undefined): err is ExporterError {
  return version !== undefined && err instanceof ExporterError && err.kind === "retryable";
}

/**
 * Streams one object through decode -> lines -> per-output filter -> outputs. Reading never
 * waits for outputs beyond the in-flight byte budget, so a slow output slows the reader without
 * blocking the other files. `process` resolves when every write it started has settled.
 */
export class FileProcessor {
  /** Every top-level record field some output reads (Output.recordFields). */
  private readonly keptFields: readonly string[];

  constructor(private readonly deps: FileProcessorDeps) {
    this.keptFields = [...new Set(deps.routes.flatMap((r) => r.output.recordFields ?? []))];
  }

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
    const state: ReadState = { pending: new PendingSet(), records: 0, invalid: 0, handled: 0 };
    let failure: unknown;
    /** What the first open read (see OpenedObject.version); a resume must read the same. */
    let version: string | undefined;
    let stalled = 0;
    for (;;) {
      const handledBefore = state.handled;
      try {
        const opened = await this.deps.source.open(ref, signal);
        if (state.handled > 0 && opened.version !== version) {
          // Not the object read before: the lines to pass over are unknown, so the queue
          // brings the file back to be read from its start.
          opened.body.destroy();
          failure = new ExporterError(
            "object_changed",
            "retryable",
            `s3://${ref.bucket}/${ref.key} is not the object read before (${version} then ${opened.version ?? "no ETag"}); the file will be read again from its start`,
          );
          break;
        }
        version = opened.version;
        await this.read(ref, opened, state, log, signal);
        break;
      } catch (err) {
        if (signal.aborted) break;
        stalled = state.handled > handledBefore ? 1 : stalled + 1;
        if (!resumable(err, version) || stalled > MAX_RESUMES) {
          failure = err;
          break;
        }
        metrics.readResumes.inc();
        metrics.errors.inc({ error_type: err.code, stage: "receiving" });
        const backoff = this.deps.resumeBackoff ?? RESUME_BACKOFF;
        const delay = Math.max(backoff.baseMs, backoffDelay(stalled, backoff));
        log.warn(
          { error_type: err.code, after_line: state.handled, attempt: stalled },
          `reading s3://${ref.bucket}/${ref.key} failed after line ${state.handled}: ${describeError(err)}; reading it again in ${Math.ceil(delay / 1000)} s and passing over the ${state.handled} lines already handed on (attempt ${stalled} of ${MAX_RESUMES}); its SQS message stays in flight`,
        );
        try {
          await sleep(delay, signal);
        } catch {
          break; // shutdown
        }
      }
    }
    const { pending, records, invalid } = state;
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

  /**
   * Reads an opened object from line `state.handled + 1` to its end, handing each batch on:
   * invalid lines to the dead letter, records through the WHERE clause and enrichment to the
   * outputs. `state.handled` advances only once a batch is wholly handed on.
   */
  private async read(
    ref: SourceRef,
    opened: OpenedObject,
    state: ReadState,
    log: Logger,
    signal: AbortSignal,
  ): Promise<void> {
    const { metrics } = this.deps;
    const { body, contentLength, preselected } = opened;
    const select = preselected ? null : (this.deps.select ?? null);
    const decoded = decodeObjectStream(body, { expectedBytes: contentLength, signal });
    for await (const chunk of readRecordBatches(decoded, {
      source: ref,
      maxLineBytes: this.deps.maxLineBytes,
      batchRecords: this.deps.batchRecords,
      batchBytes: this.deps.batchBytes,
      skipLines: state.handled,
    })) {
      for (const bad of chunk.invalid) {
        state.invalid++;
        metrics.invalidRecords.inc();
        if (state.invalid <= INVALID_LINES_LOGGED) {
          log.warn(
            { line: bad.line, reason: bad.reason },
            `invalid record at line ${bad.line} of s3://${ref.bucket}/${ref.key}: ${bad.reason}; kept in the dead-letter directory, the rest of the file goes on`,
          );
        }
        state.pending.add(
          this.deps.deadLetter.write({
            kind: "invalid_record",
            source: ref,
            line: bad.line,
            reason: bad.reason,
            raw: bad.raw,
          }),
        );
      }
      if (chunk.records.length > 0) await this.handOn(ref, chunk, select, state, signal);
      state.handled = chunk.lastLine;
    }
  }

  /** One batch's records: the WHERE clause, enrichment, the byte budget, then the outputs. */
  private async handOn(
    ref: SourceRef,
    chunk: LineBatch,
    select: ((record: unknown) => boolean) | null,
    state: ReadState,
    signal: AbortSignal,
  ): Promise<void> {
    const { metrics } = this.deps;
    state.records += chunk.records.length;
    metrics.recordsReceived.inc(chunk.records.length);
    let batch = chunk.records;
    let bytes = chunk.bytes;
    if (select) {
      batch = batch.filter((r) => select(r.value));
      if (batch.length < chunk.records.length) {
        metrics.selectDiscarded.inc(chunk.records.length - batch.length);
        bytes = byteLength(batch);
      }
      if (batch.length === 0) return;
    }
    if (this.deps.enricher) {
      const enriched = await this.deps.enricher.enrich(batch, signal);
      batch = enriched.records;
      bytes += enriched.addedBytes;
    }
    await this.deps.bytesInFlight.acquire(bytes, signal);
    const write = this.route(ref, batch, bytes, signal).finally(() =>
      this.deps.bytesInFlight.release(bytes),
    );
    state.pending.add(write);
  }

  /**
   * Sends one decoded chunk to every output whose filter wants some of it. The outputs get the
   * records with their parsed value cut down to the fields an output reads (`keptFields`): the
   * full parsed objects, several times the size of the text, are garbage as soon as the filters
   * have run, instead of staying alive until every write is durable. Not async on purpose: no
   * frame of it holds the full records while the writes wait.
   */
  private route(
    source: SourceRef,
    records: readonly TelemetryRecord[],
    bytes: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { metrics, logger } = this.deps;
    const kept = records.map((r) => ({ raw: r.raw, value: this.keep(r.value) }));
    const writes: Promise<void>[] = [];
    for (const route of this.deps.routes) {
      let selected: TelemetryRecord[] = kept;
      if (route.filter) {
        selected = [];
        for (let i = 0; i < records.length; i++) {
          if (route.filter((records[i] as TelemetryRecord).value)) {
            selected.push(kept[i] as TelemetryRecord);
          }
        }
      }
      const discarded = records.length - selected.length;
      if (discarded > 0) metrics.recordsFiltered.inc({ output: route.output.id }, discarded);
      if (selected.length === 0) continue;
      const batch: RecordBatch = {
        source,
        records: selected,
        bytes: selected === kept ? bytes : byteLength(selected),
      };
      writes.push(deliver(route.output, batch, { signal, logger, metrics }));
    }
    return Promise.all(writes).then(() => undefined);
  }

  /** The fields of a parsed record some output reads (see Output.recordFields). */
  private keep(value: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
    if (this.keptFields.length === 0) return NO_FIELDS;
    const out: Record<string, unknown> = {};
    for (const field of this.keptFields) {
      if (Object.hasOwn(value, field)) out[field] = value[field];
    }
    return out;
  }
}

/** The parsed value outputs get when none of them reads one. */
const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

function byteLength(records: readonly TelemetryRecord[]): number {
  let n = 0;
  for (const r of records) n += Buffer.byteLength(r.raw) + 1;
  return n;
}

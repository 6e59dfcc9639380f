import { Readable } from "node:stream";
import {
  GetObjectCommand,
  type S3Client,
  SelectObjectContentCommand,
  type SelectObjectContentEventStream,
} from "@aws-sdk/client-s3";
import type { Logger } from "pino";
import { ExporterError } from "../core/errors.js";
import type { ObjectSource, OpenedObject } from "../core/file-processor.js";
import type { SourceRef } from "../core/types.js";
import { selectStatementFor } from "../select/where.js";
import type { Metrics } from "../telemetry/metrics.js";
import { classifyS3Error } from "./s3-source.js";

export interface S3SelectSourceOptions {
  readonly s3: S3Client;
  /** `input.s3_select_where`. */
  readonly clause: string;
  /**
   * `auto`: when S3 answers that Select is not available, read every later object with
   * `fallback` (whose records the pipeline then filters itself). `s3`: that answer is an error.
   */
  readonly mode: "auto" | "s3";
  /** The GetObject source. */
  readonly fallback: ObjectSource;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/**
 * Reads objects through S3 Select (`SelectObjectContent`), so that only the records matching
 * `input.s3_select_where` leave S3. The body is the concatenated `Records` payloads: JSON lines,
 * already filtered (`preselected: true`). The object's compression is detected from its first
 * two bytes (a ranged GetObject), never from its name or Content-Encoding.
 *
 * The body ends only after S3's `End` event: an error event, a cut connection or a stream that
 * stops without `End` fails the body with a retryable `s3_select_failed`, since the records
 * received may be incomplete.
 */
export class S3SelectSource implements ObjectSource {
  private readonly statement: string;
  /** Set (auto mode) once S3 answered that Select is not available: sticky for the process. */
  private useFallback = false;
  private pathLogged = false;

  constructor(private readonly opts: S3SelectSourceOptions) {
    this.statement = selectStatementFor(opts.clause);
  }

  async open(ref: SourceRef, signal: AbortSignal): Promise<OpenedObject> {
    if (this.useFallback) return this.opts.fallback.open(ref, signal);
    const { compression, etag } = await this.detectCompression(ref, signal);
    if (compression === "EMPTY") return { body: Readable.from([]), contentLength: 0 };
    // Aborted when the caller's signal fires or the body is dropped early: it closes the
    // HTTP response the event stream is read from.
    const request = new AbortController();
    const onAbort = () => request.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let payload: AsyncIterable<SelectObjectContentEventStream> | undefined;
    try {
      const res = await this.opts.s3.send(
        new SelectObjectContentCommand({
          Bucket: ref.bucket,
          Key: ref.key,
          Expression: this.statement,
          ExpressionType: "SQL",
          InputSerialization: { CompressionType: compression, JSON: { Type: "LINES" } },
          OutputSerialization: { JSON: { RecordDelimiter: "\n" } },
        }),
        { abortSignal: request.signal },
      );
      payload = res.Payload;
    } catch (err) {
      signal.removeEventListener("abort", onAbort);
      if (selectUnavailable(err)) return this.unavailable(err, ref, signal);
      throw classifySelectError(err, ref);
    }
    if (!payload) {
      signal.removeEventListener("abort", onAbort);
      throw new ExporterError(
        "s3_select_failed",
        "retryable",
        `S3 Select on s3://${ref.bucket}/${ref.key} returned no event stream`,
      );
    }
    this.logPath("reading objects with S3 Select: input.s3_select_where is applied by S3");
    const body = recordsBody(payload, ref, this.opts.metrics, () => request.abort());
    body.once("close", () => signal.removeEventListener("abort", onAbort));
    return { body, preselected: true, ...(etag ? { version: `S3 Select ${etag}` } : {}) };
  }

  /**
   * GZIP or NONE by the magic bytes `1f 8b`; EMPTY for a zero-byte object. With the object's
   * ETag, which names the version the Select reads (for resuming a failed read).
   */
  private async detectCompression(
    ref: SourceRef,
    signal: AbortSignal,
  ): Promise<{ compression: "GZIP" | "NONE" | "EMPTY"; etag?: string | undefined }> {
    let head: Uint8Array;
    let etag: string | undefined;
    try {
      const res = await this.opts.s3.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: "bytes=0-1" }),
        { abortSignal: signal },
      );
      etag = res.ETag;
      head = res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      // S3 answers 416 InvalidRange to any range of a zero-byte object.
      if (errorName(err) === "InvalidRange" || httpStatus(err) === 416) {
        return { compression: "EMPTY" };
      }
      throw classifyS3Error(err, ref);
    }
    if (head.length === 0) return { compression: "EMPTY" };
    return { compression: head[0] === 0x1f && head[1] === 0x8b ? "GZIP" : "NONE", etag };
  }

  private async unavailable(
    err: unknown,
    ref: SourceRef,
    signal: AbortSignal,
  ): Promise<OpenedObject> {
    const code = unavailableCode(err);
    if (this.opts.mode === "s3") {
      throw new ExporterError(
        "s3_select_unavailable",
        "retryable",
        `S3 Select is not available for this bucket/account (${code}) reading s3://${ref.bucket}/${ref.key}: set input.s3_select_mode: auto (fall back to reading whole objects and filtering them here) or local`,
        { cause: err },
      );
    }
    if (!this.useFallback) {
      this.useFallback = true;
      this.opts.logger.warn(
        { error_code: code },
        `S3 Select is not available for this bucket/account (${code}): evaluating input.s3_select_where locally from now on`,
      );
    }
    this.logPath("reading objects with GetObject: input.s3_select_where is evaluated locally");
    return this.opts.fallback.open(ref, signal);
  }

  private logPath(message: string): void {
    if (this.pathLogged) return;
    this.pathLogged = true;
    this.opts.logger.info(message);
  }
}

/**
 * True when an error answering SelectObjectContent means "this service or account has no S3
 * Select" rather than "this request failed":
 * - `405 MethodNotAllowed`: AWS's answer to accounts created after S3 Select was closed to new
 *   customers (25 July 2024), as the AWS SDK for JavaScript's own e2e test saw it
 *   (aws/aws-sdk-js-v3#7288);
 * - `501 NotImplemented`: S3-compatible servers without Select;
 * - a 2xx answer in XML instead of an event stream, which the SDK reports as a deserialization
 *   error ("Truncated event message received"): servers that do not route Select at all and
 *   answer it as another call (fauxqs answers it as DeleteObjects).
 */
export function selectUnavailable(err: unknown): boolean {
  const name = errorName(err);
  const status = httpStatus(err);
  if (name === "MethodNotAllowed" || status === 405) return true;
  if (name === "NotImplemented" || status === 501) return true;
  if (status !== undefined && status >= 200 && status < 300) {
    const message = err instanceof Error ? err.message : "";
    const type = responseContentType(err);
    // A document type, not a cut event stream: a Select answer cut early must stay retryable.
    return (
      /Truncated event message|Deserialization error/i.test(message) &&
      type !== undefined &&
      /xml|json|html|text\//i.test(type)
    );
  }
  return false;
}

function unavailableCode(err: unknown): string {
  const name = errorName(err);
  if (name && name !== "Error") return name;
  const status = httpStatus(err);
  return status !== undefined && status >= 200 && status < 300
    ? `HTTP ${status} without an event stream`
    : `HTTP ${status ?? "error"}`;
}

/** GetObject's classification for missing objects, buckets and access; the rest is Select's. */
function classifySelectError(err: unknown, ref: SourceRef): ExporterError {
  const classified = classifyS3Error(err, ref);
  if (classified.code !== "s3_get_failed") return classified;
  const message = err instanceof Error ? err.message : String(err);
  return new ExporterError(
    "s3_select_failed",
    "retryable",
    `S3 Select on s3://${ref.bucket}/${ref.key} failed: ${errorName(err) ?? "Error"}: ${message}`,
    { cause: err },
  );
}

/**
 * The `Records` payloads as one byte stream. Each `read()` pulls the SDK's event iterator until
 * it yields one payload, so S3 is read only as fast as the body is consumed.
 */
function recordsBody(
  payload: AsyncIterable<SelectObjectContentEventStream>,
  ref: SourceRef,
  metrics: Metrics | undefined,
  abortRequest: () => void,
): Readable {
  const events = payload[Symbol.asyncIterator]();
  const where = `s3://${ref.bucket}/${ref.key}`;
  let ended = false;
  let finished = false;
  return new Readable({
    read() {
      pull(this).catch((err: unknown) => {
        if (!this.destroyed) {
          const name = errorName(err) ?? "Error";
          const message = err instanceof Error ? err.message : String(err);
          this.destroy(
            new ExporterError(
              "s3_select_failed",
              "retryable",
              `S3 Select on ${where} failed while streaming records: ${name}: ${message}`,
              { cause: err },
            ),
          );
        }
      });
    },
    destroy(err, callback) {
      if (!finished) {
        // Dropped early (error, abort or the reader stopped): close the HTTP response.
        abortRequest();
        events.return?.().catch(() => {});
      }
      callback(err);
    },
  });

  async function pull(stream: Readable): Promise<void> {
    for (;;) {
      const next = await events.next();
      if (next.done) {
        finished = true;
        if (!ended) {
          throw new ExporterError(
            "s3_select_failed",
            "retryable",
            `S3 Select on ${where} stopped before its End event: the records may be incomplete`,
          );
        }
        stream.push(null);
        return;
      }
      const event = next.value;
      if (event.Records?.Payload && event.Records.Payload.length > 0) {
        stream.push(event.Records.Payload);
        return;
      }
      const scanned = event.Stats?.Details?.BytesScanned;
      if (scanned !== undefined && metrics) metrics.bytesRead.inc(scanned);
      if (event.End) ended = true;
    }
  }
}

function errorName(err: unknown): string | undefined {
  return (err as { name?: unknown } | undefined)?.name as string | undefined;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}

function responseContentType(err: unknown): string | undefined {
  const headers = (err as { $response?: { headers?: Record<string, string> } } | undefined)
    ?.$response?.headers;
  return headers?.["content-type"] ?? headers?.["Content-Type"];
}

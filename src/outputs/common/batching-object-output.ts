import { createGzip, type Gzip } from "node:zlib";
import type { Logger } from "pino";
import { backoffDelay, sleep } from "../../core/backoff.js";
import { Budget } from "../../core/budget.js";
import { describeError, ExporterError } from "../../core/errors.js";
import type { Output, OutputContext, RecordBatch } from "../../core/types.js";
import { objectKey } from "./object-naming.js";
import type { ObjectStore } from "./object-store.js";

export interface BatchingObjectOutputSettings {
  readonly type: string;
  readonly id: string;
  /** Prefix of every object key (a folder: `/` is added when missing). */
  readonly prefix: string;
  /** An object is uploaded once its JSON lines (before compression) reach this size. */
  readonly maxSizeBytes: number;
  /** ...or once its first record has waited this long. */
  readonly flushIntervalMs: number;
  readonly compression: "none" | "gzip";
  /** Upload attempts for transient errors before the writes are rejected (then retried). */
  readonly uploadAttempts?: number;
  /** Uploads running at once. */
  readonly concurrentUploads?: number;
  readonly now?: () => Date;
}

/**
 * Shared by every object output of the process: two outputs writing to the same bucket and
 * prefix (same instance id, same millisecond) must still never produce the same name.
 */
let objectSeq = 0;

/** The engine's settings from the config keys every object output shares. */
export function objectOutputSettings(
  type: string,
  id: string,
  prefix: string,
  cfg: {
    readonly max_size_bytes: number;
    readonly flush_interval_seconds: number;
    readonly compression_format: "none" | "gzip";
  },
): BatchingObjectOutputSettings {
  return {
    type,
    id,
    prefix,
    maxSizeBytes: cfg.max_size_bytes,
    flushIntervalMs: cfg.flush_interval_seconds * 1000,
    compression: cfg.compression_format,
  };
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** The object being filled: its bytes (compressed as they come when gzip) and its writers. */
class PendingObject {
  readonly chunks: Buffer[] = [];
  readonly waiters: Waiter[] = [];
  rawBytes = 0;
  records = 0;
  timer: NodeJS.Timeout | undefined;
  private readonly gzip: Gzip | undefined;
  private readonly gzipDone: Promise<void> | undefined;

  constructor(
    readonly key: string,
    compress: boolean,
  ) {
    if (compress) {
      const gzip = createGzip();
      gzip.on("data", (chunk: Buffer) => this.chunks.push(chunk));
      this.gzipDone = new Promise((resolve, reject) => {
        gzip.once("end", resolve);
        gzip.once("error", reject);
      });
      this.gzip = gzip;
    }
  }

  append(batch: RecordBatch): void {
    const text = `${batch.records.map((r) => r.raw).join("\n")}\n`;
    const bytes = Buffer.from(text);
    this.rawBytes += bytes.length;
    this.records += batch.records.length;
    if (this.gzip) this.gzip.write(bytes);
    else this.chunks.push(bytes);
  }

  async body(): Promise<Buffer> {
    if (this.gzip && this.gzipDone) {
      this.gzip.end();
      await this.gzipDone;
    }
    const body = Buffer.concat(this.chunks);
    this.chunks.length = 0; // the joined copy is all the upload needs: don't hold it twice
    return body;
  }
}

/**
 * The shared engine of the object outputs (s3, azure_blob, google_cloud_storage). Records
 * accumulate into one object until `maxSizeBytes` of JSON lines or `flushIntervalMs` after its
 * first record, then the object is uploaded; every `write` whose records are in it resolves only
 * when the store confirms the upload. Memory per output: the object being filled (compressed as
 * it comes with gzip) plus the uploads in flight; the pipeline's in-flight budget bounds the rest.
 * Transient upload errors are retried here with backoff; after `uploadAttempts` (or at once for a
 * permanent error) the writes reject, and the pipeline retries them on their own.
 */
export class BatchingObjectOutput implements Output {
  readonly id: string;
  readonly type: string;
  private current: PendingObject | undefined;
  private readonly uploads = new Set<Promise<void>>();
  private readonly uploadSlots: Budget;
  private readonly logger: Logger;
  private readonly now: () => Date;

  constructor(
    private readonly store: ObjectStore,
    private readonly settings: BatchingObjectOutputSettings,
    private readonly ctx: OutputContext,
  ) {
    this.id = settings.id;
    this.type = settings.type;
    this.uploadSlots = new Budget(settings.concurrentUploads ?? 2);
    this.logger = ctx.logger.child({ output: settings.id });
    this.now = settings.now ?? (() => new Date());
  }

  async healthcheck(signal?: AbortSignal): Promise<void> {
    await this.store.check(signal);
  }

  write(batch: RecordBatch): Promise<void> {
    if (batch.records.length === 0) return Promise.resolve();
    const { maxSizeBytes } = this.settings;
    if (this.current && this.current.rawBytes + batch.bytes > maxSizeBytes) this.seal();
    const obj = this.current ?? this.open();
    const done = new Promise<void>((resolve, reject) => obj.waiters.push({ resolve, reject }));
    obj.append(batch);
    if (obj.rawBytes >= maxSizeBytes) this.seal();
    return done;
  }

  /** Uploads the object being filled, then waits for every upload in flight. */
  async flush(): Promise<void> {
    this.seal();
    await Promise.allSettled([...this.uploads]);
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private open(): PendingObject {
    const gzip = this.settings.compression === "gzip";
    const key = objectKey(this.settings.prefix, this.now(), this.ctx.instanceId, ++objectSeq, gzip);
    const obj = new PendingObject(key, gzip);
    obj.timer = setTimeout(() => {
      if (this.current === obj) this.seal();
    }, this.settings.flushIntervalMs);
    obj.timer.unref();
    this.current = obj;
    return obj;
  }

  private seal(): void {
    const obj = this.current;
    if (!obj) return;
    this.current = undefined;
    clearTimeout(obj.timer);
    const upload = this.upload(obj).finally(() => this.uploads.delete(upload));
    this.uploads.add(upload);
  }

  /** Never rejects: the outcome goes to the object's writers. */
  private async upload(obj: PendingObject): Promise<void> {
    await this.uploadSlots.acquire(1);
    try {
      const body = await obj.body();
      const gzip = this.settings.compression === "gzip";
      const meta = gzip
        ? { contentType: "application/x-ndjson", contentEncoding: "gzip" as const }
        : { contentType: "application/x-ndjson" };
      const attempts = this.settings.uploadAttempts ?? 5;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.store.put(obj.key, body, meta);
          this.logger.debug(
            { key: obj.key, records: obj.records, bytes: body.length },
            "object uploaded",
          );
          for (const w of obj.waiters) w.resolve();
          return;
        } catch (err) {
          const permanent = err instanceof ExporterError && err.kind === "permanent";
          if (permanent || attempt + 1 >= attempts) {
            const error =
              err instanceof ExporterError
                ? err
                : new ExporterError("upload_failed", "retryable", describeError(err), {
                    cause: err,
                  });
            this.logger[permanent ? "error" : "warn"](
              { key: obj.key, records: obj.records, attempts: attempt + 1 },
              `upload to ${this.store.location} failed: ${describeError(err)}; its records stay in SQS and are written again`,
            );
            for (const w of obj.waiters) w.reject(error);
            return;
          }
          await sleep(backoffDelay(attempt, { baseMs: 250, maxMs: 10_000 }));
        }
      }
    } catch (err) {
      for (const w of obj.waiters) w.reject(err);
    } finally {
      this.uploadSlots.release(1);
    }
  }
}

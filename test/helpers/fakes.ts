import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { ExporterError } from "../../src/core/errors.js";
import type { ObjectSource } from "../../src/core/file-processor.js";
import type { MessageControl } from "../../src/core/message-handler.js";
import type {
  DeadLetterEntry,
  DeadLetterSink,
  Output,
  RecordBatch,
  SourceRef,
} from "../../src/core/types.js";

/** Objects served from memory, behind our own ObjectSource interface. */
export class MemorySource implements ObjectSource {
  readonly objects = new Map<string, Buffer | ExporterError>();
  opens = 0;

  put(bucket: string, key: string, lines: string[], opts: { gzip?: boolean } = {}): void {
    const text = Buffer.from(lines.map((l) => `${l}\n`).join(""));
    this.objects.set(`${bucket}/${key}`, opts.gzip === false ? text : gzipSync(text));
  }

  async open(ref: SourceRef) {
    this.opens++;
    const data = this.objects.get(`${ref.bucket}/${ref.key}`);
    if (data === undefined) {
      throw new ExporterError(
        "object_missing",
        "permanent",
        `s3://${ref.bucket}/${ref.key} does not exist`,
      );
    }
    if (data instanceof ExporterError) throw data;
    return { body: Readable.from([data]), contentLength: data.length };
  }
}

/** Collects what it is given; can be told to fail its next writes. */
export class MemoryOutput implements Output {
  readonly type = "memory";
  readonly batches: RecordBatch[] = [];
  failNext = 0;
  writes = 0;

  constructor(readonly id: string) {}

  get lines(): string[] {
    return this.batches.flatMap((b) => b.records.map((r) => r.raw));
  }

  async healthcheck(): Promise<void> {}

  async write(batch: RecordBatch): Promise<void> {
    this.writes++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new ExporterError("disk_full", "retryable", "no space left on device");
    }
    this.batches.push(batch);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

export class MemoryDeadLetter implements DeadLetterSink {
  readonly entries: DeadLetterEntry[] = [];
  async write(entry: DeadLetterEntry): Promise<void> {
    this.entries.push(entry);
  }
  async close(): Promise<void> {}
}

export class RecordingControl implements MessageControl {
  deleted = 0;
  releases: number[] = [];
  async delete(): Promise<void> {
    this.deleted++;
  }
  async release(seconds: number): Promise<void> {
    this.releases.push(seconds);
  }
}

/** An S3 event notification body for the given keys (raw delivery). */
export function s3EventBody(bucket: string, keys: string[]): string {
  return JSON.stringify({
    Records: keys.map((key) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: "us-east-2",
      eventTime: "2026-12-03T10:00:00.000Z",
      eventName: "ObjectCreated:Put",
      s3: {
        bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
        object: { key: encodeURIComponent(key).replace(/%20/g, "+"), size: 1 },
      },
    })),
  });
}

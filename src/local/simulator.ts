import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { S3Client } from "@aws-sdk/client-s3";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import { Upload } from "@aws-sdk/lib-storage";
import type { Sensor } from "./fleet.js";
import {
  FILE_SPAN_MS,
  fileBody,
  fileStartMs,
  type GeneratedFile,
  type GenerateOptions,
  generateFile,
  type TelemetryFormat,
} from "./generators/index.js";
import { deriveSeed, Rng } from "./random.js";
import { nextSequencer, type S3ObjectRef, s3EventFor, s3TestEvent } from "./s3-events.js";

export { generateFileLines } from "./generators/index.js";
export type { S3Event, S3EventRecord, S3ObjectRef, S3TestEvent } from "./s3-events.js";
export { encodeS3EventKey, s3EventFor, s3TestEvent } from "./s3-events.js";

/**
 * Red Canary's producer side: writes telemetry files to the bucket, then publishes the S3
 * ObjectCreated event to the stream's SNS topic itself (fauxqs sends no bucket notifications);
 * delivery from SNS to the SQS queues is the server's. File `i` of a run holds the lines of
 * `simulatedFileChunks(format, seed, i, recordsPerFile)` (plus `fleet` when one is given), one
 * line per record, each followed by "\n": for files of up to GENERATE_CHUNK_RECORDS records
 * that is exactly `generateFileLines(format, seed, i, recordsPerFile)`.
 *
 * Files of any size: a file is generated chunk by chunk, gzipped as a stream and uploaded with
 * lib-storage's `Upload` (one PutObject up to UPLOAD_PART_BYTES, multipart beyond; fauxqs
 * refuses a single PutObject over 11 MiB), so memory per file in preparation stays around one
 * chunk of lines plus two parts, whatever the file size.
 */

/** Longer files are generated in chunks of this many records (see `simulatedFileChunks`). */
export const GENERATE_CHUNK_RECORDS = 20_000;
/** Multipart part size; S3's minimum is 5 MiB. */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/** Parts uploaded at once per object (lib-storage buffers queueSize x partSize bytes). */
const UPLOAD_QUEUE_SIZE = 2;

export interface SimulationTarget {
  readonly s3: S3Client;
  readonly sns: SNSClient;
  readonly bucket: string;
  readonly topicArn: string;
  readonly region: string;
}

export interface SimulateOptions {
  readonly target: SimulationTarget;
  readonly format: TelemetryFormat;
  readonly files: number;
  readonly recordsPerFile: number;
  readonly seed: number;
  /** Default true. Plain files are uploaded as `.json`. */
  readonly gzip?: boolean;
  /** zlib level 1-9 for gzip files. Default zlib's (6). */
  readonly gzipLevel?: number;
  /** Key prefix before the `YYYY/MM/DD/HH/` part. Default `<format>/<namespace>`. */
  readonly keyPrefix?: string;
  /** Used in the default key prefix. Default "demo-ns". */
  readonly namespace?: string;
  /** S3 records per SNS message. Default 1. */
  readonly filesPerNotification?: number;
  /** Notifications (groups of files) prepared at once. Default 4 (each holds one chunk). */
  readonly concurrency?: number;
  /** Default: the default fleet (see fleet.ts). */
  readonly fleet?: readonly Sensor[];
  /** Publish an `s3:TestEvent` before the first file, as S3 does when notifications are set. */
  readonly testEventFirst?: boolean;
  /** Called once per file after its notification is published. */
  readonly onFile?: (file: SimulatedFile) => void;
  readonly signal?: AbortSignal;
}

export interface SimulatedFile {
  readonly index: number;
  readonly bucket: string;
  /** The object key as stored in S3 (decoded). */
  readonly key: string;
  readonly records: number;
  /** Size of the object as uploaded (compressed when gzip). */
  readonly bytes: number;
  /** Uncompressed size: the UTF-8 bytes of every line plus its newline. */
  readonly rawBytes: number;
  readonly eventTypes: Record<string, number>;
  /** As S3 reported it, without quotes (`<hex>-<parts>` after a multipart upload). */
  readonly eTag: string;
}

export interface SimulationResult {
  /** In file index order. */
  readonly files: SimulatedFile[];
  readonly totalRecords: number;
  /** Bytes uploaded. */
  readonly totalBytes: number;
  /** SNS messages published, the test event included. */
  readonly notifications: number;
}

/**
 * The key of file `index`: `<prefix>/YYYY/MM/DD/HH/<uuid>.json[.gz]`, where every fourth file
 * sits under `batch=<n> <x>/` and every fourth another has `+`, parentheses and a non-ASCII
 * letter in its name, so that notification key decoding is exercised.
 */
export function objectKeyFor(
  prefix: string,
  seed: number,
  index: number,
  startMs: number,
  gzipped: boolean,
): string {
  const rng = new Rng(deriveSeed(seed, index, 0x6b6579));
  const d = new Date(startMs);
  const pad = (n: number) => String(n).padStart(2, "0");
  const dir = `${prefix}/${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCHours())}`;
  const ext = gzipped ? ".json.gz" : ".json";
  const id = rng.uuid();
  switch (index % 4) {
    case 2:
      return `${dir}/batch=${rng.int(1, 99)} ${rng.pick(["a", "b"])}/${id}${ext}`;
    case 3:
      return `${dir}/${id} (retry+1) é${ext}`;
    default:
      return `${dir}/${id}${ext}`;
  }
}

export async function simulate(opts: SimulateOptions): Promise<SimulationResult> {
  const { target, format, seed, recordsPerFile } = opts;
  const gzipped = opts.gzip ?? true;
  const perMessage = Math.max(1, Math.floor(opts.filesPerNotification ?? 1));
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 4));
  const prefix = (opts.keyPrefix ?? `${format}/${opts.namespace ?? "demo-ns"}`).replace(/\/+$/, "");
  const send = { abortSignal: opts.signal };
  const files: SimulatedFile[] = new Array(opts.files);
  let notifications = 0;

  if (opts.testEventFirst) {
    await target.sns.send(
      new PublishCommand({
        TopicArn: target.topicArn,
        Subject: "Amazon S3 Notification",
        Message: JSON.stringify(s3TestEvent(target.bucket)),
      }),
      send,
    );
    notifications++;
  }

  const upload = async (index: number) => {
    const eventTypes: Record<string, number> = {};
    let rawBytes = 0;
    const chunks = simulatedFileChunks(
      format,
      seed,
      index,
      recordsPerFile,
      opts.fleet ? { fleet: opts.fleet } : {},
    );
    const body = Readable.from(
      chunkBodies(chunks, (chunk, bytes) => {
        rawBytes += bytes;
        for (const [t, n] of Object.entries(chunk.eventTypes))
          eventTypes[t] = (eventTypes[t] ?? 0) + n;
      }),
    );
    // Without an explicit start time every chunk sequence starts at fileStartMs(seed, index).
    const key = objectKeyFor(prefix, seed, index, fileStartMs(seed, index), gzipped);
    const put = await uploadObject(target.s3, target.bucket, key, body, {
      gzip: gzipped ? (opts.gzipLevel ?? true) : false,
      signal: opts.signal,
    });
    const file: SimulatedFile = {
      index,
      bucket: target.bucket,
      key,
      records: recordsPerFile,
      bytes: put.bytes,
      rawBytes,
      eventTypes,
      eTag: put.eTag,
    };
    return file;
  };

  const groups: number[][] = [];
  for (let i = 0; i < opts.files; i += perMessage) {
    groups.push(Array.from({ length: Math.min(perMessage, opts.files - i) }, (_, k) => i + k));
  }
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < groups.length && !failed) {
      const group = groups[next++] ?? [];
      const uploaded = [];
      for (const index of group) uploaded.push(await upload(index));
      await announceObjects(
        target,
        uploaded.map((file) => ({ key: file.key, size: file.bytes, eTag: file.eTag })),
        opts.signal,
      );
      notifications++;
      for (const file of uploaded) {
        files[file.index] = file;
        opts.onFile?.(file);
      }
    }
  };
  // A failure stops the other workers at their next group; all are awaited before rejecting.
  const settled = await Promise.allSettled(
    Array.from({ length: Math.min(concurrency, groups.length) }, () =>
      worker().catch((err: unknown) => {
        failed = true;
        throw err;
      }),
    ),
  );
  const rejected = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;

  return {
    files,
    totalRecords: files.reduce((a, f) => a + f.records, 0),
    totalBytes: files.reduce((a, f) => a + f.bytes, 0),
    notifications,
  };
}

/**
 * The records of simulated file `fileIndex`, in chunks of at most GENERATE_CHUNK_RECORDS, so a
 * file of any length never sits whole in memory. A file of up to that many records is the single
 * chunk `generateFile(format, seed, fileIndex, records, opts)`. A longer one is made of chunks
 * `k = 0, 1, ...`, each `generateFile(format, deriveSeed(seed, fileIndex), k, n, { ...opts,
 * startMs: start + k * FILE_SPAN_MS })` where `start` is `opts.startMs` or
 * `fileStartMs(seed, fileIndex)`: records stay distinct and in time order, every chunk has every
 * event type, and the file spans 5 minutes per chunk.
 */
export function* simulatedFileChunks(
  format: TelemetryFormat,
  seed: number,
  fileIndex: number,
  records: number,
  opts: GenerateOptions = {},
): Generator<GeneratedFile, void, undefined> {
  if (records <= GENERATE_CHUNK_RECORDS) {
    yield generateFile(format, seed, fileIndex, records, opts);
    return;
  }
  const chunkSeed = deriveSeed(seed, fileIndex);
  const start = opts.startMs ?? fileStartMs(seed, fileIndex);
  for (let k = 0, done = 0; done < records; k++) {
    const n = Math.min(GENERATE_CHUNK_RECORDS, records - done);
    yield generateFile(format, chunkSeed, k, n, { ...opts, startMs: start + k * FILE_SPAN_MS });
    done += n;
  }
}

/**
 * Each chunk's body (lines with their newlines) as one Buffer; `onChunk` sees it first. Before
 * generating the next chunk (CPU-bound, on the main thread), it lets the event loop turn so
 * that gzip has started on the previous one in the thread pool.
 */
async function* chunkBodies(
  chunks: Iterator<GeneratedFile, void, undefined>,
  onChunk: (chunk: GeneratedFile, bytes: number) => void,
): AsyncGenerator<Buffer, void, undefined> {
  for (;;) {
    await new Promise((resolve) => setImmediate(resolve));
    const next = chunks.next();
    if (next.done) return;
    const body = Buffer.from(fileBody(next.value.lines), "utf8");
    onChunk(next.value, body.length);
    if (body.length > 0) yield body;
  }
}

export interface UploadObjectOptions {
  /** Gzip the body on the way: true (zlib's default level) or a level 1-9. Default false. */
  readonly gzip?: boolean | number;
  /** Default UPLOAD_PART_BYTES. */
  readonly partBytes?: number;
  readonly signal?: AbortSignal | undefined;
}

export interface UploadedObject {
  /** Without quotes; `<hex>-<parts>` for a multipart upload, as S3 reports it. */
  readonly eTag: string;
  /** Bytes stored (after gzip). */
  readonly bytes: number;
}

/**
 * Uploads a stream of any length: lib-storage sends one PutObject when the body fits in one
 * part, a multipart upload otherwise, holding at most two parts in memory. `body` is consumed;
 * on a failure or abort every stage is destroyed and a started multipart upload is aborted.
 */
export async function uploadObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Readable,
  opts: UploadObjectOptions = {},
): Promise<UploadedObject> {
  let bytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const aborter = new AbortController();
  const onAbort = () => aborter.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: counted },
    partSize: opts.partBytes ?? UPLOAD_PART_BYTES,
    queueSize: UPLOAD_QUEUE_SIZE,
    leavePartsOnError: false,
    abortController: aborter,
  });
  const stages =
    opts.gzip === undefined || opts.gzip === false
      ? [body]
      : [
          body,
          // Room for a generated chunk ahead and large gzip steps: gzip (thread pool) works on
          // one chunk while the next is generated (main thread).
          new PassThrough({ highWaterMark: 32 * 1024 * 1024 }),
          createGzip({
            chunkSize: 4 * 1024 * 1024,
            ...(opts.gzip === true ? {} : { level: opts.gzip }),
          }),
        ];
  // Stages and the upload fail together: Promise.all holds both rejections, and whichever fails
  // first tears the other down (destroying `counted` ends the pipeline, aborting ends the upload).
  const piped = pipeline([...stages, counted], { signal: aborter.signal });
  try {
    const [result] = await Promise.all([upload.done(), piped]);
    return { eTag: (result.ETag ?? "").replace(/"/g, ""), bytes };
  } catch (err) {
    aborter.abort(err);
    throw err;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** Publishes one S3 ObjectCreated event naming `objects` to the target's SNS topic. */
export async function announceObjects(
  target: Pick<SimulationTarget, "sns" | "bucket" | "topicArn" | "region">,
  objects: readonly S3ObjectRef[],
  signal?: AbortSignal,
): Promise<void> {
  const event = s3EventFor(
    target.bucket,
    objects.map((o) => ({ ...o, sequencer: o.sequencer ?? nextSequencer() })),
    target.region,
  );
  await target.sns.send(
    new PublishCommand({
      TopicArn: target.topicArn,
      Subject: "Amazon S3 Notification",
      Message: JSON.stringify(event),
    }),
    { abortSignal: signal },
  );
}

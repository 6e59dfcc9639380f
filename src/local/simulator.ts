import { promisify } from "node:util";
import { gzip as gzipCallback } from "node:zlib";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Sensor } from "./fleet.js";
import { fileBody, generateFile, type TelemetryFormat } from "./generators/index.js";
import { deriveSeed, Rng } from "./random.js";
import { nextSequencer, s3EventFor, s3TestEvent } from "./s3-events.js";

export { generateFileLines } from "./generators/index.js";
export type { S3Event, S3EventRecord, S3ObjectRef, S3TestEvent } from "./s3-events.js";
export { encodeS3EventKey, s3EventFor, s3TestEvent } from "./s3-events.js";

/**
 * Red Canary's producer side: writes telemetry files to the bucket, then publishes the S3
 * ObjectCreated event to the stream's SNS topic itself (fauxqs sends no bucket notifications);
 * delivery from SNS to the SQS queues is the server's. File `i` of a run holds exactly
 * `generateFileLines(format, seed, i, recordsPerFile)` (plus `fleet` when one is given), one
 * line per record, each followed by "\n".
 */

const gzip = promisify(gzipCallback);

/** fauxqs refuses a single PutObject body over 11 MiB; multipart (lib-storage) is not used yet. */
export const MAX_SINGLE_PUT_BYTES = 10 * 1024 * 1024;

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
  /** Key prefix before the `YYYY/MM/DD/HH/` part. Default `<format>/<namespace>`. */
  readonly keyPrefix?: string;
  /** Used in the default key prefix. Default "demo-ns". */
  readonly namespace?: string;
  /** S3 records per SNS message. Default 1. */
  readonly filesPerNotification?: number;
  /** Notifications (groups of files) prepared at once. Default 4. */
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
    const generated = generateFile(
      format,
      seed,
      index,
      recordsPerFile,
      opts.fleet ? { fleet: opts.fleet } : {},
    );
    const raw = Buffer.from(fileBody(generated.lines), "utf8");
    const body = gzipped ? await gzip(raw) : raw;
    if (body.length > MAX_SINGLE_PUT_BYTES) {
      throw new Error(
        `simulated file ${index} is ${body.length} bytes: over the ${MAX_SINGLE_PUT_BYTES}-byte single PutObject limit of the local server; use fewer records per file`,
      );
    }
    const key = objectKeyFor(prefix, seed, index, generated.startMs, gzipped);
    const put = await target.s3.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body }),
      send,
    );
    const file: SimulatedFile = {
      index,
      bucket: target.bucket,
      key,
      records: recordsPerFile,
      bytes: body.length,
      rawBytes: raw.length,
      eventTypes: generated.eventTypes,
    };
    return { file, eTag: (put.ETag ?? "").replace(/"/g, "") };
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
      const event = s3EventFor(
        target.bucket,
        uploaded.map(({ file, eTag }) => ({
          key: file.key,
          size: file.bytes,
          eTag,
          sequencer: nextSequencer(),
        })),
        target.region,
      );
      await target.sns.send(
        new PublishCommand({
          TopicArn: target.topicArn,
          Subject: "Amazon S3 Notification",
          Message: JSON.stringify(event),
        }),
        send,
      );
      notifications++;
      for (const { file } of uploaded) {
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

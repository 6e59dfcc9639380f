import { randomBytes } from "node:crypto";

/**
 * S3 event notification bodies exactly as S3 publishes them to SNS (event structure version
 * 2.1), and the test event S3 sends when a notification is configured.
 */

export interface S3ObjectRef {
  /** The object key as stored (not encoded); the event carries it URL-encoded. */
  readonly key: string;
  readonly size: number;
  /** Hex MD5 without quotes, as in events. Default: 32 zeros. */
  readonly eTag?: string;
  readonly sequencer?: string;
}

export interface S3EventRecord {
  eventVersion: string;
  eventSource: "aws:s3";
  awsRegion: string;
  eventTime: string;
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: Record<string, string>;
  s3: {
    s3SchemaVersion: "1.0";
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size: number; eTag: string; sequencer: string };
  };
}

export interface S3Event {
  Records: S3EventRecord[];
}

export interface S3TestEvent {
  Service: "Amazon S3";
  Event: "s3:TestEvent";
  Time: string;
  Bucket: string;
  RequestId: string;
  HostId: string;
}

/**
 * The key as S3 writes it into events: HTML-form encoding of each path segment (UTF-8
 * percent-encoding of all but `A-Z a-z 0-9 . - * _`, space as `+`, so a literal `+` is `%2B`),
 * `/` kept. Undo with
 * `decodeURIComponent(key.replace(/\+/g, " "))`.
 */
export function encodeS3EventKey(key: string): string {
  return key
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment)
        .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
        .replace(/%20/g, "+"),
    )
    .join("/");
}

let sequence = 0n;

/** Hex, increasing within this process, like S3's per-key ordering `sequencer`. */
export function nextSequencer(): string {
  sequence += 1n;
  return (BigInt(Date.now()) * 1_000_000n + sequence).toString(16).toUpperCase().padStart(18, "0");
}

export interface S3EventOptions {
  /** Default: now. */
  readonly eventTime?: Date;
  /** Default "ObjectCreated:Put". */
  readonly eventName?: string;
  readonly configurationId?: string;
}

/** One `ObjectCreated:Put` record per object, in order. */
export function s3EventFor(
  bucket: string,
  objects: readonly S3ObjectRef[],
  region = "us-east-2",
  opts: S3EventOptions = {},
): S3Event {
  const eventTime = (opts.eventTime ?? new Date()).toISOString();
  return {
    Records: objects.map((o) => ({
      eventVersion: "2.1",
      eventSource: "aws:s3",
      awsRegion: region,
      eventTime,
      eventName: opts.eventName ?? "ObjectCreated:Put",
      userIdentity: { principalId: "AWS:AIDAJ2RCEXPORTEREXAMPLE" },
      requestParameters: { sourceIPAddress: "10.20.30.40" },
      responseElements: {
        "x-amz-request-id": randomBytes(8).toString("hex").toUpperCase(),
        "x-amz-id-2": randomBytes(48).toString("base64"),
      },
      s3: {
        s3SchemaVersion: "1.0",
        configurationId: opts.configurationId ?? "rc-telemetry-file-added",
        bucket: {
          name: bucket,
          ownerIdentity: { principalId: "A3NL1KOZZKEXAMPLE" },
          arn: `arn:aws:s3:::${bucket}`,
        },
        object: {
          key: encodeS3EventKey(o.key),
          size: o.size,
          eTag: o.eTag ?? "0".repeat(32),
          sequencer: o.sequencer ?? nextSequencer(),
        },
      },
    })),
  };
}

/** The body S3 sends to a destination when a bucket notification is configured. */
export function s3TestEvent(bucket: string, time: Date = new Date()): S3TestEvent {
  return {
    Service: "Amazon S3",
    Event: "s3:TestEvent",
    Time: time.toISOString(),
    Bucket: bucket,
    RequestId: randomBytes(8).toString("hex").toUpperCase(),
    HostId: randomBytes(48).toString("base64"),
  };
}

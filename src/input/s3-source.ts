import { Readable } from "node:stream";
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from "@aws-sdk/client-s3";
import { ExporterError } from "../core/errors.js";
import type { ObjectSource } from "../core/file-processor.js";
import type { SourceRef } from "../core/types.js";
import type { Metrics } from "../telemetry/metrics.js";

/** Reads objects with GetObject as a stream: never whole in memory. */
export class S3ObjectSource implements ObjectSource {
  constructor(
    private readonly s3: S3Client,
    private readonly metrics?: Metrics,
  ) {}

  async open(ref: SourceRef, signal: AbortSignal) {
    let res: GetObjectCommandOutput;
    try {
      res = await this.s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), {
        abortSignal: signal,
      });
    } catch (err) {
      throw classifyS3Error(err, ref);
    }
    const body = res.Body;
    if (!(body instanceof Readable)) {
      throw new ExporterError(
        "s3_no_body",
        "retryable",
        `GetObject s3://${ref.bucket}/${ref.key} returned no body stream`,
      );
    }
    if (this.metrics) {
      const counter = this.metrics.bytesRead;
      body.on("data", (chunk: Buffer) => counter.inc(chunk.length));
    }
    return {
      body,
      ...(res.ContentLength !== undefined ? { contentLength: res.ContentLength } : {}),
      ...(res.ETag ? { version: `GetObject ${res.ETag}` } : {}),
    };
  }
}

/**
 * NoSuchKey and NoSuchBucket are permanent: the object will not appear by retrying (S3 is
 * strongly consistent). AccessDenied is retried: credentials get rotated and policies fixed,
 * and after the configured receives the message is dead-lettered with this reason anyway.
 */
export function classifyS3Error(err: unknown, ref: SourceRef): ExporterError {
  const name = (err as { name?: string } | undefined)?.name ?? "Error";
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
  const where = `s3://${ref.bucket}/${ref.key}`;
  if (name === "NoSuchKey" || (status === 404 && name !== "NoSuchBucket")) {
    return new ExporterError("object_missing", "permanent", `${where} does not exist (NoSuchKey)`, {
      cause: err,
    });
  }
  if (name === "NoSuchBucket") {
    return new ExporterError(
      "bucket_missing",
      "permanent",
      `bucket ${ref.bucket} does not exist (NoSuchBucket)`,
      { cause: err },
    );
  }
  if (name === "AccessDenied" || status === 403) {
    return new ExporterError(
      "access_denied",
      "retryable",
      `access denied reading ${where}: check the input's AWS credentials (Red Canary's key pair) and that they are still valid`,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ExporterError(
    "s3_get_failed",
    "retryable",
    `GetObject ${where} failed: ${name}: ${message}`,
    { cause: err },
  );
}

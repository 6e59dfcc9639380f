import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { ObjectMeta, ObjectStore } from "../common/object-store.js";
import { classifyS3OutputError } from "./s3-errors.js";

export interface S3ObjectStoreOptions {
  readonly bucket: string;
  /** For `location` only: keys arrive complete from the engine. */
  readonly prefix: string;
  /** Cut out of every error message (the configured key pair). */
  readonly secrets?: readonly string[];
  /** Objects above this go multipart, in parts of this size. Default and minimum: 5 MiB. */
  readonly partSize?: number;
  /** Parts of one object uploaded at once. Default 4. */
  readonly partsAtOnce?: number;
}

/**
 * An S3 bucket behind the ObjectStore interface. `put` uploads with lib-storage's `Upload`: one
 * PutObject up to the part size, a multipart upload above it (parts are slices of the body, not
 * copies, so an upload holds no more than the object itself); a multipart upload that fails is
 * aborted, so no orphan parts are left to pay for. The SDK retries each request (5xx, throttling,
 * timeouts); what still fails is classified for the engine, which retries the whole object.
 */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;

  constructor(
    private readonly client: S3Client,
    private readonly opts: S3ObjectStoreOptions,
  ) {
    this.location = `s3://${opts.bucket}/${opts.prefix}`;
  }

  /** HeadBucket: the bucket exists and these credentials may see it. */
  async check(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(
        new HeadBucketCommand({ Bucket: this.opts.bucket }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (err) {
      throw classifyS3OutputError(err, this.context());
    }
  }

  async put(key: string, body: Buffer, meta: ObjectMeta, signal?: AbortSignal): Promise<void> {
    const abortController = new AbortController();
    const onAbort = () => abortController.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      if (signal?.aborted) throw signal.reason;
      const upload = new Upload({
        client: this.client,
        params: {
          Bucket: this.opts.bucket,
          Key: key,
          Body: body,
          ContentType: meta.contentType,
          ...(meta.contentEncoding ? { ContentEncoding: meta.contentEncoding } : {}),
        },
        partSize: Math.max(this.opts.partSize ?? MIN_PART_SIZE, MIN_PART_SIZE),
        queueSize: this.opts.partsAtOnce ?? 4,
        leavePartsOnError: false,
        abortController,
      });
      await upload.done();
    } catch (err) {
      throw classifyS3OutputError(err, { ...this.context(), key });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private context() {
    return {
      bucket: this.opts.bucket,
      ...(this.opts.secrets ? { secrets: this.opts.secrets } : {}),
    };
  }
}

/** S3's smallest part (except the last one). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

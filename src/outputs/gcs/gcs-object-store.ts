import type { Storage } from "@google-cloud/storage";
import { abortable } from "../../core/abortable.js";
import { ExporterError } from "../../core/errors.js";
import type { ObjectMeta, ObjectStore } from "../common/object-store.js";
import { emulatorHostProblem, REQUEST_TIMEOUT_MS } from "./gcs-client.js";
import { classifyGcsError, gcsHttpStatus } from "./gcs-errors.js";

export interface GcsObjectStoreOptions {
  readonly bucket: string;
  /** For `location` only: keys arrive complete from the engine. */
  readonly prefix: string;
  /** Cut out of every error message (parts of credentials_json). */
  readonly secrets?: readonly string[];
  /** Objects larger than this go as a resumable upload, smaller ones in one multipart request. */
  readonly resumableAboveBytes?: number;
  /** An upload not done after this (plus time for its size) is given up and retried. */
  readonly uploadTimeoutMs?: number;
}

/**
 * Small objects go in one request; above this, a resumable upload costs one more request but a
 * connection cut halfway resumes from what GCS has instead of starting over.
 */
export const RESUMABLE_ABOVE_BYTES = 8 * 1024 * 1024;

const UPLOAD_TIMEOUT_MS = 120_000;
const CREATE = "storage.objects.create";
/** The slowest link an upload is given time for, beyond the fixed timeout. */
const SLOWEST_BYTES_PER_SECOND = 256 * 1024;

/**
 * A Google Cloud Storage bucket behind the ObjectStore interface, with the official client.
 * `put` saves the engine's finished object with `file.save`: one multipart request up to 8 MiB,
 * a resumable upload above (a request cut short resumes from what GCS has). The client checks
 * the CRC32C GCS computed against its own and fails the upload when they differ. The client
 * retries a little by itself; what still fails is classified for the engine, which retries the
 * whole object under the same name.
 */
export class GcsObjectStore implements ObjectStore {
  readonly location: string;

  constructor(
    private readonly storage: Storage,
    private readonly opts: GcsObjectStoreOptions,
  ) {
    this.location = `gs://${opts.bucket}/${opts.prefix}`;
  }

  /**
   * The bucket exists and these credentials may write to it. First the bucket's metadata (404:
   * no such bucket; 401: credentials refused). Then IAM's testPermissions, which any caller may
   * ask, for storage.objects.create: a writer with roles/storage.objectCreator only may not read
   * bucket metadata (403 above) and is fine, a reader that may not write is not. A server that
   * answered the metadata but has no IAM (an emulator) is taken at its word.
   */
  async check(signal?: AbortSignal): Promise<void> {
    const problem = emulatorHostProblem();
    if (problem) throw new ExporterError("gcs_endpoint_invalid", "permanent", problem);
    const bucket = this.storage.bucket(this.opts.bucket);
    let metadataRead = false;
    try {
      await abortable(bucket.getMetadata(), signal, abortError);
      metadataRead = true;
    } catch (err) {
      if (gcsHttpStatus(err) !== 403) throw this.classify(err);
    }
    let granted: Record<string, boolean>;
    try {
      [granted] = await abortable(bucket.iam.testPermissions([CREATE]), signal, abortError);
    } catch (err) {
      const status = gcsHttpStatus(err);
      if (metadataRead && status !== undefined && status !== 401 && status !== 403) return;
      throw this.classify(err);
    }
    if (!granted[CREATE]) {
      throw new ExporterError(
        "access_denied",
        "permanent",
        `the credentials of the google_cloud_storage output may not create objects in gs://${this.opts.bucket}: grant their principal storage.objects.create on the bucket (e.g. roles/storage.objectCreator), or check credentials_json (or, when it is left out, the application default credentials)`,
      );
    }
  }

  async put(key: string, body: Buffer, meta: ObjectMeta, signal?: AbortSignal): Promise<void> {
    const resumable = body.length > (this.opts.resumableAboveBytes ?? RESUMABLE_ABOVE_BYTES);
    const saving = this.storage
      .bucket(this.opts.bucket)
      .file(key)
      .save(body, {
        resumable,
        contentType: meta.contentType,
        // Already gzipped by the engine: the encoding is metadata only (no `gzip` option, which
        // would compress again). GCS serves it as stored to clients that accept gzip.
        metadata: {
          contentType: meta.contentType,
          ...(meta.contentEncoding ? { contentEncoding: meta.contentEncoding } : {}),
        },
        validation: "crc32c",
        // Per request of a multipart upload; a resumable upload is bounded by the deadline below.
        timeout: REQUEST_TIMEOUT_MS,
      });
    const timeoutMs =
      (this.opts.uploadTimeoutMs ?? UPLOAD_TIMEOUT_MS) +
      Math.ceil((body.length / SLOWEST_BYTES_PER_SECOND) * 1000);
    try {
      await withDeadline(abortable(saving, signal, abortError), timeoutMs, () => {
        return new ExporterError(
          "gcs_timeout",
          "retryable",
          `the upload of ${body.length} bytes to gs://${this.opts.bucket}/${key} did not finish within ${Math.round(timeoutMs / 1000)} s`,
        );
      });
    } catch (err) {
      throw this.classify(err, key);
    }
  }

  private classify(err: unknown, key?: string): ExporterError {
    return classifyGcsError(err, {
      bucket: this.opts.bucket,
      ...(key !== undefined ? { key } : {}),
      ...(this.opts.secrets ? { secrets: this.opts.secrets } : {}),
    });
  }
}

function abortError(signal: AbortSignal): ExporterError {
  const why = signal.reason instanceof Error ? signal.reason.message : "aborted";
  return new ExporterError("gcs_aborted", "retryable", `the GCS request was abandoned: ${why}`);
}

function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  work.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * What an object output needs from a cloud store (S3, Azure Blob, Google Cloud Storage). Each
 * store's folder implements this with its official SDK; batching, naming, compression and
 * retries live once in batching-object-output.ts.
 */
export interface ObjectMeta {
  readonly contentType: string;
  readonly contentEncoding?: "gzip";
}

export interface ObjectStore {
  /** Where objects go, for logs and errors (`s3://bucket/prefix`). Never holds a secret. */
  readonly location: string;
  /**
   * Rejects with a permanent ExporterError when the destination cannot work at all (missing
   * bucket or container, bad credentials, no permission), saying what to fix.
   */
  check(signal?: AbortSignal): Promise<void>;
  /**
   * Stores `body` under `key`; resolves once the service confirms the object is stored.
   * Rejects with an ExporterError whose kind says whether another attempt can help.
   */
  put(key: string, body: Buffer, meta: ObjectMeta, signal?: AbortSignal): Promise<void>;
}

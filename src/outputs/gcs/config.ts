/** `outputs: - google_cloud_storage:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import {
  compressionFormat,
  credentialsJson,
  exportOnlyWhere,
  flushIntervalSeconds,
  maxSizeBytes,
  optional,
  text,
  withDefault,
} from "../../config/fields.js";

export const gcsOutputSchema = z.strictObject({
  bucket_name: text("expected a bucket name"),
  /** The folder of every object name (a `/` is added when missing). Default: none. */
  object_key_prefix: withDefault(z.string({ error: "expected a key prefix" }), ""),
  /**
   * The service-account key file's JSON text. Absent: Application Default Credentials
   * (GOOGLE_APPLICATION_CREDENTIALS, or the metadata server on GCP).
   */
  credentials_json: optional(credentialsJson),
  max_size_bytes: maxSizeBytes,
  /** Ours: see fields.ts. Default 60. */
  flush_interval_seconds: flushIntervalSeconds,
  compression_format: withDefault(compressionFormat, "none"),
  export_only_where: exportOnlyWhere,
});

export type GcsOutputConfig = z.output<typeof gcsOutputSchema>;

/** `outputs: - s3:` settings. Keys exactly as in the guide's template. */
import { z } from "zod";
import {
  awsRegion,
  compressionFormat,
  exportOnlyWhere,
  flushIntervalSeconds,
  maxSizeBytes,
  optional,
  secret,
  text,
  withDefault,
} from "../../config/fields.js";

export const s3OutputSchema = z.strictObject({
  /** Bucket names are validated by S3 itself: local emulators and older buckets differ. */
  bucket_name: text("expected a bucket name"),
  /** The folder of every object key (a `/` is added when missing). Default: none. */
  object_key_prefix: withDefault(z.string({ error: "expected a key prefix" }), ""),
  /**
   * Both or neither (checked in config/normalize.ts). Neither: the AWS SDK's default credential
   * chain (environment, shared profile, IAM role). These are your keys, not Red Canary's.
   */
  aws_access_key_id: optional(secret),
  aws_secret_access_key: optional(secret),
  /** Absent: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
  aws_region: optional(awsRegion),
  max_size_bytes: maxSizeBytes,
  /** Ours: see fields.ts. Default 60. */
  flush_interval_seconds: flushIntervalSeconds,
  compression_format: withDefault(compressionFormat, "none"),
  export_only_where: exportOnlyWhere,
});

export type S3OutputConfig = z.output<typeof s3OutputSchema>;
